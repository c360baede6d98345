//! `lastmile demo`: a demo organisation in Shanghai, seeded once into the data directory's
//! database. 1 admin, 3 dispatchers, 2 warehouse staff, 20 engineers with skills and home
//! bases, 200 customers with sites, and 500 work orders in every status, each created and moved
//! through its lifecycle by sync-core's `WorkOrderDoc`, like real orders. Spare parts
//! (`crate::inventory::demo`): a catalog of about 300 HVAC and chiller parts, a central
//! warehouse, a depot, quarantine and a stocked van per engineer; finished orders carry the
//! parts their engineer used, posted to the ledger, and orders that need parts a request.
//!
//! Speed: everything is one transaction (one change sequence number), and the shared demo
//! password is hashed once with the normal argon2id parameters and that hash reused for every
//! account, instead of 26 hashes (about 0.5 s) or weaker parameters. Seeding takes well under a
//! few seconds. Idempotent: if the organisation exists, nothing is written.

use crate::accounts::{self, Customer, EngineerProfile, GeoPoint, NewUser, Site, WorkingHours};
use crate::auth::password;
use crate::docstore;
use crate::error::Result;
use crate::now_ms;
use crate::state::AppState;
use sync_core::workorder::{Asset, Customer as WoCustomer, NewWorkOrder, Priority, Site as WoSite};
use sync_core::{DocId, OrgId, Role, Status, UserId, WorkOrderDoc};

/// The demo organisation's name.
pub const ORG_NAME: &str = "Lastmile Demo 上海";
/// The one password of every demo account.
pub const PASSWORD: &str = "lastmile-demo";
/// The demo organisation's time zone, used by `lastmile demo` unless `time_zone` is configured.
pub const TIME_ZONE: &str = "Asia/Shanghai";

/// [`TIME_ZONE`], from the system's tz database or the copy built into the binary.
pub fn time_zone() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(TIME_ZONE).expect("the built-in tz database has Asia/Shanghai")
}
/// How many work orders the demo has.
pub const WORK_ORDERS: usize = 500;

/// A demo sign-in.
#[derive(Clone, Debug)]
pub struct Account {
    pub role: Role,
    pub email: String,
    pub name: String,
}

/// What `seed` did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub org: OrgId,
    /// False when the demo organisation already existed.
    pub created: bool,
    pub accounts: Vec<Account>,
}

const ENGINEERS: [(&str, &str); 20] = [
    ("王伟", "Wang Wei"),
    ("李强", "Li Qiang"),
    ("张磊", "Zhang Lei"),
    ("刘洋", "Liu Yang"),
    ("陈杰", "Chen Jie"),
    ("杨帆", "Yang Fan"),
    ("赵军", "Zhao Jun"),
    ("黄勇", "Huang Yong"),
    ("周鹏", "Zhou Peng"),
    ("吴斌", "Wu Bin"),
    ("徐浩", "Xu Hao"),
    ("孙涛", "Sun Tao"),
    ("马超", "Ma Chao"),
    ("朱明", "Zhu Ming"),
    ("胡亮", "Hu Liang"),
    ("郭峰", "Guo Feng"),
    ("何欢", "He Huan"),
    ("高翔", "Gao Xiang"),
    ("林伟", "Lin Wei"),
    ("罗刚", "Luo Gang"),
];

const OFFICE: [(Role, &str, &str, &str); 6] = [
    (Role::Admin, "admin", "沈丽", "Shen Li"),
    (Role::Dispatcher, "dispatcher1", "陈静", "Chen Jing"),
    (Role::Dispatcher, "dispatcher2", "李娜", "Li Na"),
    (Role::Dispatcher, "dispatcher3", "周莎", "Sarah Zhou"),
    (Role::Warehouse, "warehouse1", "钱进", "Qian Jin"),
    (Role::Warehouse, "warehouse2", "冯彬", "Feng Bin"),
];

const SKILLS: [&str; 8] = [
    "hvac",
    "refrigeration",
    "electrical",
    "elevator",
    "plumbing",
    "generator",
    "it",
    "forklift",
];

const BRANDS: [(&str, &str); 20] = [
    ("宏达", "Hongda"),
    ("华信", "Huaxin"),
    ("金桥", "Jinqiao"),
    ("东方明珠", "Oriental Pearl"),
    ("申通", "Shentong"),
    ("海天", "Haitian"),
    ("永利", "Yongli"),
    ("锦江", "Jinjiang"),
    ("百联", "Bailian"),
    ("新世纪", "New Century"),
    ("光明", "Guangming"),
    ("长江", "Changjiang"),
    ("浦江", "Pujiang"),
    ("龙腾", "Longteng"),
    ("瑞丰", "Ruifeng"),
    ("恒通", "Hengtong"),
    ("鼎盛", "Dingsheng"),
    ("佳美", "Jiamei"),
    ("天润", "Tianrun"),
    ("福瑞", "Furui"),
];

const TRADES: [(&str, &str); 10] = [
    ("冷链物流", "Cold Chain Logistics"),
    ("超市", "Supermarkets"),
    ("医院", "Hospital"),
    ("酒店", "Hotel"),
    ("数据中心", "Data Centre"),
    ("食品加工", "Food Processing"),
    ("商业广场", "Plaza"),
    ("制药", "Pharmaceutical"),
    ("物业管理", "Property Management"),
    ("精密制造", "Precision Manufacturing"),
];

/// District, its English name, and a centre point.
const DISTRICTS: [(&str, &str, f64, f64); 12] = [
    ("浦东新区", "Pudong", 31.2215, 121.5447),
    ("黄浦区", "Huangpu", 31.2317, 121.4846),
    ("徐汇区", "Xuhui", 31.1885, 121.4365),
    ("静安区", "Jing'an", 31.2290, 121.4480),
    ("长宁区", "Changning", 31.2204, 121.4241),
    ("普陀区", "Putuo", 31.2494, 121.3972),
    ("虹口区", "Hongkou", 31.2646, 121.5050),
    ("杨浦区", "Yangpu", 31.2595, 121.5260),
    ("闵行区", "Minhang", 31.1128, 121.3817),
    ("宝山区", "Baoshan", 31.4045, 121.4893),
    ("嘉定区", "Jiading", 31.3747, 121.2655),
    ("松江区", "Songjiang", 31.0323, 121.2277),
];

const ROADS: [&str; 16] = [
    "张江路",
    "世纪大道",
    "淮海中路",
    "南京西路",
    "漕溪北路",
    "延安西路",
    "长寿路",
    "四川北路",
    "国定路",
    "莘庄路",
    "同济路",
    "曹安公路",
    "人民北路",
    "银都路",
    "龙华中路",
    "虹桥路",
];

/// Problem text and the asset model it concerns.
const PROBLEMS: [(&str, &str); 16] = [
    (
        "冷库温度过高，超过4°C / Cold room above 4 °C",
        "Carrier 30XA chiller",
    ),
    (
        "压缩机频繁跳闸 / Compressor trips every few minutes",
        "Bitzer 4NES-20 compressor",
    ),
    (
        "电梯门无法关闭 / Lift door will not close",
        "Otis Gen2 lift",
    ),
    ("中央空调不制冷 / Central AC not cooling", "Daikin VRV IV"),
    (
        "备用发电机无法启动 / Standby generator fails to start",
        "Cummins C110D5",
    ),
    (
        "叉车液压油泄漏 / Forklift hydraulic leak",
        "Toyota 8FBE15 forklift",
    ),
    (
        "收银系统频繁死机 / POS terminals freezing",
        "NCR RealPOS 7197",
    ),
    (
        "UPS报警，电池故障 / UPS alarm, battery fault",
        "APC Smart-UPS 3000",
    ),
    ("水泵噪音大 / Water pump very loud", "Grundfos CR 10"),
    (
        "冷却塔漏水 / Cooling tower leaking",
        "BAC VTL-E cooling tower",
    ),
    (
        "消防报警频繁误报 / Fire alarm false alarms",
        "Notifier NFS2-3030",
    ),
    ("制冰机不出冰 / Ice machine makes no ice", "Hoshizaki IM-65"),
    (
        "配电柜断路器跳闸 / Switchboard breaker tripping",
        "Schneider Prisma P",
    ),
    (
        "机房温度过高 / Server room overheating",
        "Vertiv Liebert PDX",
    ),
    (
        "自动门感应器故障 / Automatic door sensor fault",
        "Dorma ES 200",
    ),
    (
        "锅炉压力异常 / Boiler pressure abnormal",
        "Viessmann Vitoplex 200",
    ),
];

/// A small deterministic generator (xorshift64*), so every demo database looks the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

fn email(local: &str) -> String {
    format!("{local}@demo.lastmile.dev")
}

/// The demo's accounts, in the order they are printed.
pub fn accounts() -> Vec<Account> {
    let office = OFFICE.iter().map(|(role, local, zh, en)| Account {
        role: *role,
        email: email(local),
        name: format!("{zh} {en}"),
    });
    let engineers = ENGINEERS.iter().enumerate().map(|(i, (zh, en))| Account {
        role: Role::Engineer,
        email: email(&format!("engineer{:02}", i + 1)),
        name: format!("{zh} {en}"),
    });
    office.chain(engineers).collect()
}

/// Seed the demo organisation unless it exists.
pub async fn seed(state: &AppState) -> Result<Summary> {
    if let Some(org) = accounts::find_org(&state.db, ORG_NAME).await? {
        return Ok(Summary {
            org,
            created: false,
            accounts: accounts(),
        });
    }
    let started = std::time::Instant::now();
    let hash = state
        .password_work(|| password::hash_password(PASSWORD))
        .await??;
    let mut rng = Rng(0x5eed_1a57_3113);
    let now = now_ms();
    let org = OrgId::new();

    let mut tx = state.db.begin().await?;
    let seq = docstore::begin_write(&mut tx).await?;
    sqlx::query(
        "INSERT INTO organisations (id, name, order_counter, created_at) VALUES ($1, $2, 0, $3)",
    )
    .bind(org.to_string())
    .bind(ORG_NAME)
    .bind(now)
    .execute(&mut *tx)
    .await?;

    // Territories: the river splits the city. The first dispatcher sees everything; the other
    // two each dispatch one side (see docs/dispatch.md).
    let split = 121.492;
    for (name, lon0, lon1) in [("浦西 Puxi", 120.85, split), ("浦东 Pudong", split, 122.0)] {
        let area = serde_json::json!({"type": "Polygon", "coordinates": [[
            [lon0, 30.68], [lon1, 30.68], [lon1, 31.88], [lon0, 31.88], [lon0, 30.68]
        ]]});
        crate::territories::create(&mut tx, org, name, "prefer", &area).await?;
    }
    let mut dispatchers_seen = 0usize;

    // People.
    let mut office_users = Vec::new();
    let mut engineers = Vec::new();
    let mut warehouse = None;
    for account in accounts() {
        let user = accounts::create_user(
            &mut tx,
            &NewUser {
                org,
                email: account.email.clone(),
                name: account.name.clone(),
                role: account.role,
                password_hash: hash.clone(),
                customer_id: None,
                team: None,
                territory: if account.role == Role::Dispatcher {
                    dispatchers_seen += 1;
                    [None, Some("浦西 Puxi"), Some("浦东 Pudong")][(dispatchers_seen - 1) % 3]
                        .map(str::to_owned)
                } else {
                    None
                },
            },
        )
        .await?;
        match account.role {
            Role::Engineer => {
                let (_, _, lat, lon) = DISTRICTS[engineers.len() % DISTRICTS.len()];
                let skills = (0..2 + rng.below(2))
                    .map(|_| SKILLS[rng.below(SKILLS.len())].to_owned())
                    .collect();
                let profile = EngineerProfile {
                    skills,
                    home: Some(GeoPoint {
                        lat: lat + rng.unit() * 0.03,
                        lon: lon + rng.unit() * 0.03,
                    }),
                    working_hours: WorkingHours {
                        days: if engineers.len() % 4 == 0 {
                            vec![2, 3, 4, 5, 6]
                        } else {
                            vec![1, 2, 3, 4, 5]
                        },
                        start_minute: 8 * 60 + 30 * (engineers.len() % 3) as u16,
                        end_minute: 17 * 60 + 30 * (engineers.len() % 3) as u16,
                    },
                    last_location: None,
                };
                accounts::put_engineer_profile(&mut tx, org, user, &profile).await?;
                engineers.push(user);
            }
            Role::Admin | Role::Dispatcher => office_users.push((user, account.role)),
            Role::Warehouse => {
                warehouse.get_or_insert(user);
            }
            _ => {}
        }
    }

    // Customers, each with one or two sites.
    let mut customers: Vec<Customer> = Vec::with_capacity(BRANDS.len() * TRADES.len());
    for (b, (brand_zh, brand_en)) in BRANDS.iter().enumerate() {
        for (t, (trade_zh, trade_en)) in TRADES.iter().enumerate() {
            let sites = (0..1 + (b + t) % 2)
                .map(|_| {
                    let (district, district_en, lat, lon) = DISTRICTS[rng.below(DISTRICTS.len())];
                    Site {
                        id: String::new(),
                        address: format!(
                            "上海市{district}{}{}号 ({district_en}, Shanghai)",
                            ROADS[rng.below(ROADS.len())],
                            1 + rng.below(999)
                        ),
                        lat: lat + rng.unit() * 0.04,
                        lon: lon + rng.unit() * 0.04,
                    }
                })
                .collect();
            let customer = Customer {
                id: format!("C-{:04}", customers.len() + 1),
                name: format!(
                    "上海{brand_zh}{trade_zh}有限公司 Shanghai {brand_en} {trade_en} Co., Ltd."
                ),
                phone: Some(format!(
                    "+86 21 {:04} {:04}",
                    rng.below(10_000),
                    rng.below(10_000)
                )),
                sites,
            };
            customers.push(accounts::create_customer(&mut tx, org, &customer).await?);
        }
    }

    // Spare parts: catalog, warehouse, depot, quarantine, a stocked van per engineer.
    let mut stock = crate::inventory::demo::seed(
        &mut tx,
        org,
        seq,
        warehouse.unwrap_or(office_users[0].0),
        &engineers,
    )
    .await?;

    // Work orders, walked through the status machine by the roles that may do each step.
    const PRIORITIES: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];
    let day = 24 * 3600 * 1000;
    for i in 0..WORK_ORDERS {
        let customer = &customers[rng.below(customers.len())];
        let site = &customer.sites[rng.below(customer.sites.len())];
        let (problem, model) = PROBLEMS[rng.below(PROBLEMS.len())];
        let priority = PRIORITIES[rng.below(PRIORITIES.len())];
        let (dispatcher, role) = office_users[1 + i % (office_users.len() - 1)];
        let office = state.docs.edit_context(dispatcher, role);
        let new = NewWorkOrder {
            id: DocId::new(),
            org,
            number: docstore::next_order_number(&mut tx, org).await?,
            customer: WoCustomer {
                id: customer.id.clone(),
                name: customer.name.clone(),
            },
            site: WoSite {
                address: site.address.clone(),
                lat: site.lat,
                lon: site.lon,
            },
            asset: Asset {
                id: format!("A-{:05}", i + 1),
                model: model.into(),
                serial: format!("SN{:08}", rng.next() % 100_000_000),
            },
            problem: problem.into(),
            priority,
            sla_due_ms: Some(
                now + (4 - priority.rank()) * day / 2 + rng.below(48) as i64 * 3_600_000,
            ),
        };
        let mut doc = WorkOrderDoc::create(state.docs.actor(), &new, &office)?;
        let target = &Status::KNOWN[i % Status::KNOWN.len()];
        let mut parts_used = false;
        if *target != Status::New {
            let engineer: UserId = engineers[rng.below(engineers.len())];
            let field = state.docs.edit_context(engineer, Role::Engineer);
            walk(
                &mut doc,
                target,
                engineer,
                &office,
                &field,
                window_start(now, i),
            )?;
            parts_used = stock.field_work(&mut doc, target, engineer, &field, i)?;
        }
        docstore::save(&mut tx, org, &mut doc, seq).await?;
        if parts_used {
            // As if the engineer's phone had synced it: posted to the ledger from their van.
            crate::inventory::post_consumption(&mut tx, org, &doc, seq).await?;
        }
    }
    tx.commit().await?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo seeded"
    );
    Ok(Summary {
        org,
        created: true,
        accounts: accounts(),
    })
}

/// A visit window for demo order `i`: a working day from three days ago to ten days ahead, starting
/// between 08:00 and 16:45 in the demo's time zone, so the board's lanes look like a real day.
fn window_start(now: i64, i: usize) -> i64 {
    const DAY: i64 = 86_400_000;
    const HOUR: i64 = 3_600_000;
    let local_midnight = jiff::Timestamp::from_millisecond(now)
        .ok()
        .and_then(|t| t.to_zoned(time_zone()).start_of_day().ok())
        .map_or(now, |z| z.timestamp().as_millisecond());
    let i = i as i64;
    local_midnight + (i % 14 - 3) * DAY + (8 + (i * 7) % 9) * HOUR + ((i * 13) % 4) * HOUR / 4
}

/// Move a new order to `target` along the path people would take.
fn walk(
    doc: &mut WorkOrderDoc,
    target: &Status,
    engineer: UserId,
    office: &sync_core::EditContext,
    field: &sync_core::EditContext,
    window_start: i64,
) -> sync_core::Result<()> {
    use Status::*;
    if *target == Cancelled {
        return doc.set_status(office, Cancelled);
    }
    doc.assign(office, Some(engineer))?;
    doc.schedule(office, window_start, window_start + 2 * 3_600_000)?;
    doc.set_status(office, Assigned)?;
    let path: &[(Status, bool)] = match target {
        Assigned => &[],
        EnRoute => &[(EnRoute, true)],
        OnSite => &[(EnRoute, true), (OnSite, true)],
        NeedsParts => &[(OnSite, true), (NeedsParts, true)],
        Completed => &[(EnRoute, true), (OnSite, true), (Completed, true)],
        Closed => &[(OnSite, true), (Completed, true), (Closed, false)],
        _ => &[],
    };
    for (status, by_field) in path {
        doc.set_status(if *by_field { field } else { office }, status.clone())?;
    }
    Ok(())
}
