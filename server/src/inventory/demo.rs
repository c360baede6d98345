//! The demo's spare parts: a catalog of about 300 HVAC, chiller and building-services parts,
//! a central warehouse, a depot and quarantine, every engineer's van stocked with a kit, and
//! the movements that put the stock there. `crate::demo::seed` calls [`seed`] in its
//! transaction before the work orders, and [`DemoStock::field_work`] on finished orders so
//! they carry the parts their engineer used (posted like a synced phone's lines).

use super::catalog::{self, NewPart};
use super::ledger::{Movement, Refs, Writer};
use super::locations::{self, LocationKind, NewLocation};
use super::{Actor, Condition, Kind, Result, reports};
use sqlx::AnyConnection;
use sync_core::workorder::NewConsumption;
use sync_core::{EditContext, OrgId, Role, Status, UserId, WorkOrderDoc};

/// A family of parts: one SKU per variant.
struct Family {
    prefix: &'static str,
    zh: &'static str,
    en: &'static str,
    category: &'static str,
    unit: &'static str,
    /// Unit cost of the first variant in fen, and the step per variant.
    cost: (i64, i64),
    serial_tracked: bool,
    variants: &'static [&'static str],
    models: &'static [&'static str],
}

const CHILLER: &str = "Carrier 30XA chiller";
const BITZER: &str = "Bitzer 4NES-20 compressor";
const VRV: &str = "Daikin VRV IV";
const TOWER: &str = "BAC VTL-E cooling tower";
const PUMP: &str = "Grundfos CR 10";
const CRAC: &str = "Vertiv Liebert PDX";
const ICE: &str = "Hoshizaki IM-65";
const BOILER: &str = "Viessmann Vitoplex 200";

#[rustfmt::skip]
const FAMILIES: &[Family] = &[
    Family { prefix: "CAP-RUN", zh: "运行电容", en: "Run capacitor", category: "Electrical",
        unit: "pcs", cost: (1_800, 250), serial_tracked: false,
        variants: &["5UF", "7.5UF", "10UF", "15UF", "20UF", "25UF", "30UF", "35UF", "40UF", "45UF", "50UF", "60UF", "70UF", "80UF"],
        models: &[CHILLER, VRV, ICE] },
    Family { prefix: "CAP-DUAL", zh: "双联电容", en: "Dual run capacitor", category: "Electrical",
        unit: "pcs", cost: (3_500, 300), serial_tracked: false,
        variants: &["30-5UF", "35-5UF", "40-5UF", "45-5UF", "50-5UF", "55-5UF", "60-5UF", "70-7.5UF"],
        models: &[VRV] },
    Family { prefix: "CAP-START", zh: "启动电容", en: "Start capacitor", category: "Electrical",
        unit: "pcs", cost: (2_600, 400), serial_tracked: false,
        variants: &["88-108UF", "108-130UF", "130-156UF", "161-193UF", "189-227UF", "216-259UF", "243-292UF"],
        models: &[BITZER, ICE] },
    Family { prefix: "CONT", zh: "交流接触器", en: "Contactor", category: "Electrical",
        unit: "pcs", cost: (6_500, 1_800), serial_tracked: false,
        variants: &["1P-30A-24V", "2P-30A-24V", "2P-40A-24V", "3P-25A-230V", "3P-32A-230V", "3P-40A-230V", "3P-50A-230V", "3P-65A-230V", "3P-80A-230V", "3P-95A-230V"],
        models: &[CHILLER, BITZER, TOWER, PUMP] },
    Family { prefix: "RELAY", zh: "继电器", en: "Relay", category: "Electrical",
        unit: "pcs", cost: (2_200, 500), serial_tracked: false,
        variants: &["SPDT-24V", "DPDT-24V", "DPDT-230V", "TIME-DELAY-5M", "PHASE-MONITOR", "OVERLOAD-9-13A", "OVERLOAD-17-25A"],
        models: &[CHILLER, BITZER, PUMP] },
    Family { prefix: "FUSE", zh: "熔断器", en: "Fuse", category: "Electrical",
        unit: "box", cost: (2_000, 300), serial_tracked: false,
        variants: &["10A", "16A", "20A", "25A", "32A", "40A", "63A"],
        models: &[] },
    Family { prefix: "MCB", zh: "微型断路器", en: "Circuit breaker", category: "Electrical",
        unit: "pcs", cost: (4_500, 900), serial_tracked: false,
        variants: &["1P-16A", "1P-20A", "2P-32A", "3P-40A", "3P-63A", "3P-100A"],
        models: &["Schneider Prisma P"] },
    Family { prefix: "COMP-SCROLL", zh: "涡旋压缩机", en: "Scroll compressor", category: "Compressors",
        unit: "pcs", cost: (380_000, 65_000), serial_tracked: true,
        variants: &["ZR34K3E", "ZR48K3E", "ZR61KCE", "ZR81KCE", "ZR108KCE", "ZR144KCE", "ZP54KCE", "ZP83KCE"],
        models: &[VRV, CRAC] },
    Family { prefix: "COMP-SEMI", zh: "半封闭压缩机", en: "Semi-hermetic compressor", category: "Compressors",
        unit: "pcs", cost: (920_000, 180_000), serial_tracked: true,
        variants: &["4NES-20Y", "4FES-5Y", "4CES-9Y", "6GE-34Y", "06EA265"],
        models: &[BITZER, CHILLER] },
    Family { prefix: "MOTOR-FAN", zh: "冷凝风机电机", en: "Condenser fan motor", category: "Motors",
        unit: "pcs", cost: (68_000, 12_000), serial_tracked: true,
        variants: &["1/6HP", "1/4HP", "1/3HP", "1/2HP", "3/4HP", "1HP"],
        models: &[CHILLER, VRV, TOWER] },
    Family { prefix: "MOTOR-EC", zh: "EC风机", en: "EC fan", category: "Motors",
        unit: "pcs", cost: (210_000, 35_000), serial_tracked: true,
        variants: &["W3G500", "W3G630", "W3G710", "W3G800", "W3G910"],
        models: &[CHILLER, CRAC] },
    Family { prefix: "TXV", zh: "热力膨胀阀", en: "Thermostatic expansion valve", category: "Refrigeration",
        unit: "pcs", cost: (32_000, 4_500), serial_tracked: false,
        variants: &["TE2-R410A", "TE5-R410A", "TE12-R410A", "TE20-R410A", "TE2-R134A", "TE5-R134A", "TE12-R134A", "TE20-R134A", "TGE-R407C"],
        models: &[BITZER, CRAC, ICE] },
    Family { prefix: "EXV", zh: "电子膨胀阀", en: "Electronic expansion valve", category: "Refrigeration",
        unit: "pcs", cost: (118_000, 22_000), serial_tracked: true,
        variants: &["ETS-6-25", "ETS-6-40", "ETS-12C", "ETS-24C", "ETS-50B", "ETS-100B"],
        models: &[CHILLER, VRV] },
    Family { prefix: "DRIER", zh: "干燥过滤器", en: "Filter drier", category: "Refrigeration",
        unit: "pcs", cost: (4_800, 900), serial_tracked: false,
        variants: &["DML032", "DML052", "DML053", "DML083", "DML084", "DML163", "DML164", "DML165", "DML305", "DML307", "DML309", "DCR-48"],
        models: &[CHILLER, BITZER, VRV, CRAC, ICE] },
    Family { prefix: "SOL", zh: "电磁阀", en: "Solenoid valve", category: "Refrigeration",
        unit: "pcs", cost: (26_000, 5_500), serial_tracked: false,
        variants: &["EVR3", "EVR6", "EVR10", "EVR15", "EVR20", "EVR25", "COIL-230V", "COIL-24V"],
        models: &[BITZER, CRAC] },
    Family { prefix: "SIGHT", zh: "视液镜", en: "Sight glass", category: "Refrigeration",
        unit: "pcs", cost: (6_500, 1_200), serial_tracked: false,
        variants: &["SGN-10", "SGN-12", "SGN-16", "SGN-19", "SGN-22"],
        models: &[BITZER] },
    Family { prefix: "PSW", zh: "压力开关", en: "Pressure switch", category: "Controls",
        unit: "pcs", cost: (15_000, 2_500), serial_tracked: false,
        variants: &["HP-KP5", "LP-KP1", "DUAL-KP15", "OIL-MP54", "FAN-KP7"],
        models: &[CHILLER, BITZER] },
    Family { prefix: "SENSOR", zh: "传感器", en: "Sensor", category: "Controls",
        unit: "pcs", cost: (5_500, 3_000), serial_tracked: false,
        variants: &["NTC-10K", "NTC-5K", "PT1000", "P-0-30BAR", "P-0-50BAR", "HUMIDITY-RH", "FLOW-SWITCH", "WATER-LEAK"],
        models: &[CHILLER, CRAC, VRV, TOWER] },
    Family { prefix: "PCB", zh: "控制主板", en: "Controller board", category: "Controls",
        unit: "pcs", cost: (160_000, 40_000), serial_tracked: true,
        variants: &["30XA-MAIN", "30XA-EXV", "VRV-OUTDOOR", "VRV-INDOOR", "PDX-ICOM", "IM65-MAIN"],
        models: &[CHILLER, VRV, CRAC, ICE] },
    Family { prefix: "R410A", zh: "R410A制冷剂", en: "Refrigerant R-410A", category: "Refrigerants",
        unit: "kg", cost: (9_500, 0), serial_tracked: false,
        variants: &["BULK"], models: &[VRV, CRAC] },
    Family { prefix: "R134A", zh: "R134a制冷剂", en: "Refrigerant R-134a", category: "Refrigerants",
        unit: "kg", cost: (8_800, 0), serial_tracked: false,
        variants: &["BULK"], models: &[CHILLER, ICE] },
    Family { prefix: "R407C", zh: "R407C制冷剂", en: "Refrigerant R-407C", category: "Refrigerants",
        unit: "kg", cost: (9_900, 0), serial_tracked: false,
        variants: &["BULK"], models: &[BITZER] },
    Family { prefix: "R32", zh: "R32制冷剂", en: "Refrigerant R-32", category: "Refrigerants",
        unit: "kg", cost: (7_600, 0), serial_tracked: false,
        variants: &["BULK"], models: &[VRV] },
    Family { prefix: "OIL", zh: "冷冻机油", en: "Compressor oil", category: "Refrigerants",
        unit: "l", cost: (16_000, 4_000), serial_tracked: false,
        variants: &["POE-32", "POE-68", "POE-170", "MINERAL-3GS", "PVE-32"],
        models: &[BITZER, CHILLER, VRV] },
    Family { prefix: "CU", zh: "紫铜管", en: "Copper tube", category: "Piping",
        unit: "m", cost: (1_500, 900), serial_tracked: false,
        variants: &["1/4IN", "3/8IN", "1/2IN", "5/8IN", "3/4IN", "7/8IN", "1-1/8IN", "1-3/8IN"],
        models: &[] },
    Family { prefix: "INSUL", zh: "保温管", en: "Pipe insulation", category: "Piping",
        unit: "m", cost: (600, 150), serial_tracked: false,
        variants: &["9MM-1/4IN", "9MM-3/8IN", "13MM-1/2IN", "13MM-5/8IN", "19MM-3/4IN", "19MM-7/8IN"],
        models: &[] },
    Family { prefix: "SVC-VALVE", zh: "截止阀", en: "Service valve", category: "Piping",
        unit: "pcs", cost: (5_800, 1_400), serial_tracked: false,
        variants: &["1/4IN", "3/8IN", "1/2IN", "5/8IN", "7/8IN", "1-1/8IN"],
        models: &[VRV] },
    Family { prefix: "BELT", zh: "三角带", en: "V-belt", category: "Mechanical",
        unit: "pcs", cost: (2_400, 200), serial_tracked: false,
        variants: &["A30", "A35", "A40", "A45", "A50", "A55", "A60", "B40", "B45", "B50", "B55", "B60", "B70"],
        models: &[TOWER] },
    Family { prefix: "BRG", zh: "轴承", en: "Bearing", category: "Mechanical",
        unit: "pcs", cost: (3_200, 600), serial_tracked: false,
        variants: &["6203-2RS", "6204-2RS", "6205-2RS", "6206-2RS", "6207-2RS", "6208-2RS", "UCP205", "UCP206"],
        models: &[TOWER, PUMP] },
    Family { prefix: "SEAL", zh: "机械密封", en: "Mechanical seal", category: "Pumps",
        unit: "pcs", cost: (28_000, 6_000), serial_tracked: false,
        variants: &["CR10-HQQE", "CR15-HQQE", "CR20-HQQE", "CR32-HQQE", "NB65-BAQE"],
        models: &[PUMP] },
    Family { prefix: "IMPELLER", zh: "叶轮", en: "Pump impeller", category: "Pumps",
        unit: "pcs", cost: (46_000, 9_000), serial_tracked: false,
        variants: &["CR10", "CR15", "CR20", "CR32"],
        models: &[PUMP] },
    Family { prefix: "FILTER", zh: "空气过滤网", en: "Pleated air filter", category: "Filters",
        unit: "box", cost: (9_000, 1_500), serial_tracked: false,
        variants: &["16X20X2", "20X20X2", "20X25X2", "24X24X2", "16X25X4", "20X25X4", "24X24X4", "G4-595X595", "F7-595X595"],
        models: &[CRAC, VRV] },
    Family { prefix: "TOWER", zh: "冷却塔配件", en: "Cooling tower part", category: "Cooling towers",
        unit: "pcs", cost: (8_500, 7_500), serial_tracked: false,
        variants: &["NOZZLE-SPRAY", "FILL-PACK", "DRIFT-ELIM", "FLOAT-VALVE", "BASIN-HEATER", "GEARBOX-OIL-SEAL"],
        models: &[TOWER] },
    Family { prefix: "GASKET", zh: "密封垫套件", en: "Gasket kit", category: "Consumables",
        unit: "set", cost: (3_600, 1_100), serial_tracked: false,
        variants: &["COMP-4NES", "COMP-6GE", "PUMP-CR10", "PUMP-CR32", "BOILER-MANWAY", "ORING-ASSORTED"],
        models: &[BITZER, PUMP, BOILER] },
    Family { prefix: "CLEAN", zh: "清洗剂", en: "Cleaning chemical", category: "Consumables",
        unit: "l", cost: (4_200, 1_300), serial_tracked: false,
        variants: &["COIL-ALKALINE", "COIL-ACID", "DESCALER", "BIOCIDE", "LEAK-DETECT"],
        models: &[TOWER, ICE] },
    Family { prefix: "BRAZE", zh: "焊材", en: "Brazing material", category: "Consumables",
        unit: "pcs", cost: (900, 700), serial_tracked: false,
        variants: &["ROD-0PCT", "ROD-5PCT", "ROD-15PCT", "FLUX-PASTE", "NITROGEN-REG-SEAL"],
        models: &[] },
    Family { prefix: "CCH", zh: "曲轴箱加热器", en: "Crankcase heater", category: "Compressors",
        unit: "pcs", cost: (9_500, 1_500), serial_tracked: false,
        variants: &["27W", "40W", "60W", "75W", "90W", "BELT-150W"],
        models: &[BITZER, VRV] },
    Family { prefix: "VIB", zh: "减震管", en: "Vibration eliminator", category: "Piping",
        unit: "pcs", cost: (14_000, 2_500), serial_tracked: false,
        variants: &["3/8IN", "1/2IN", "5/8IN", "7/8IN", "1-1/8IN", "1-3/8IN", "1-5/8IN"],
        models: &[BITZER, CHILLER] },
    Family { prefix: "RCV", zh: "储液器", en: "Liquid receiver", category: "Refrigeration",
        unit: "pcs", cost: (52_000, 14_000), serial_tracked: false,
        variants: &["4L", "7L", "10L", "16L", "25L", "40L"],
        models: &[BITZER, CRAC] },
    Family { prefix: "ACCU", zh: "气液分离器", en: "Suction accumulator", category: "Refrigeration",
        unit: "pcs", cost: (38_000, 9_000), serial_tracked: false,
        variants: &["A-AS-0", "A-AS-1", "A-AS-2", "A-AS-3", "A-AS-4"],
        models: &[VRV, ICE] },
    Family { prefix: "XFMR", zh: "控制变压器", en: "Control transformer", category: "Electrical",
        unit: "pcs", cost: (11_000, 2_800), serial_tracked: false,
        variants: &["40VA-24V", "75VA-24V", "100VA-24V", "150VA-24V", "250VA-24V", "500VA-110V"],
        models: &[CHILLER, CRAC, BOILER] },
    Family { prefix: "ACT", zh: "风阀执行器", en: "Damper actuator", category: "Controls",
        unit: "pcs", cost: (48_000, 12_000), serial_tracked: false,
        variants: &["5NM-ONOFF", "10NM-ONOFF", "10NM-0-10V", "20NM-0-10V", "20NM-SPRING", "40NM-0-10V"],
        models: &[CRAC] },
    Family { prefix: "DRAIN", zh: "冷凝水泵", en: "Condensate pump", category: "Pumps",
        unit: "pcs", cost: (42_000, 9_000), serial_tracked: false,
        variants: &["MINI-10L", "MINI-20L", "TANK-2L", "TANK-4L", "HIGHLIFT-8M"],
        models: &[VRV, CRAC] },
    Family { prefix: "HOSE", zh: "加液管", en: "Charging hose", category: "Consumables",
        unit: "set", cost: (18_000, 4_000), serial_tracked: false,
        variants: &["R410A-90CM", "R410A-150CM", "R32-150CM", "R134A-150CM", "BALL-VALVE-KIT"],
        models: &[] },
    Family { prefix: "IGN", zh: "点火组件", en: "Ignition part", category: "Heating",
        unit: "pcs", cost: (12_000, 4_000), serial_tracked: false,
        variants: &["ELECTRODE", "FLAME-ROD", "TRANSFORMER", "UV-SCANNER"],
        models: &[BOILER] },
];

/// The kit every van carries: (SKU, quantity in minor units).
const VAN_KIT: [(&str, i64); 12] = [
    ("CAP-RUN-35UF", 4),
    ("CAP-RUN-45UF", 3),
    ("CAP-DUAL-45-5UF", 2),
    ("CONT-2P-40A-24V", 2),
    ("CONT-3P-32A-230V", 2),
    ("RELAY-TIME-DELAY-5M", 2),
    ("DRIER-DML083", 3),
    ("DRIER-DML164", 2),
    ("R410A-BULK", 10_000),
    ("CU-3/8IN", 15_000),
    ("BELT-A45", 2),
    ("SENSOR-NTC-10K", 3),
];

/// Unique SKU of a variant.
fn sku(f: &Family, variant: &str) -> String {
    format!("{}-{variant}", f.prefix)
}

/// What [`seed`] set up, for the orders that follow.
pub struct DemoStock {
    kit: Vec<String>,
    /// An engineer whose van holds a serial-tracked fan motor, its SKU and serial.
    motor: Option<(UserId, String, String)>,
    lines: usize,
}

/// Seed the catalog, locations, stock levels and the movements that stock the warehouse and
/// the vans. Inside the demo's write transaction (`seq`).
pub async fn seed(
    tx: &mut AnyConnection,
    org: OrgId,
    seq: i64,
    warehouse_user: UserId,
    engineers: &[UserId],
) -> Result<DemoStock> {
    let mut w = Writer::resume(org, seq, Actor::user(warehouse_user, Role::Warehouse));
    let central = locations::create(
        tx,
        org,
        &NewLocation {
            code: "WH-SH".into(),
            name: "上海中心仓 Shanghai Central Warehouse (Minhang)".into(),
            kind: LocationKind::Warehouse,
            engineer_id: None,
        },
    )
    .await?;
    let depot = locations::create(
        tx,
        org,
        &NewLocation {
            code: "WH-PD".into(),
            name: "浦东备件点 Pudong Parts Depot".into(),
            kind: LocationKind::Warehouse,
            engineer_id: None,
        },
    )
    .await?;
    let quarantine = locations::ensure_quarantine(tx, org).await?;

    let mut parts = Vec::new();
    for f in FAMILIES {
        for (i, v) in f.variants.iter().enumerate() {
            let part = catalog::create(
                tx,
                org,
                seq,
                &NewPart {
                    sku: sku(f, v),
                    name: format!("{} {} {}", f.zh, f.en, v.replace('-', " ")),
                    description: format!("{} ({}), {v}", f.en, f.category),
                    unit: f.unit.into(),
                    unit_cost_minor: f.cost.0 + f.cost.1 * i as i64,
                    category: f.category.into(),
                    serial_tracked: f.serial_tracked,
                    compatible_models: f.models.iter().map(|m| (*m).to_owned()).collect(),
                },
            )
            .await?;
            parts.push(part);
        }
    }

    // The central warehouse: a delivery per category, serial numbers for tracked parts, and
    // reorder levels; the depot holds the fast movers.
    let now = w.now;
    for (n, part) in parts.iter().enumerate() {
        let scale = super::minor_per_unit(&part.unit).unwrap_or(1);
        let qty = if part.serial_tracked {
            1 + (n % 3) as i64
        } else {
            (6 + (n * 7 % 25) as i64) * if scale > 1 { 10 * scale } else { 1 }
        };
        let supplier = match part.category.as_str() {
            "Compressors" | "Motors" => "艾默生 Emerson Climate (Suzhou)",
            "Refrigerants" => "巨化 Juhua Refrigerants",
            "Electrical" => "施耐德 Schneider Electric China",
            "Pumps" => "格兰富 Grundfos Pumps (Shanghai)",
            _ => "丹佛斯 Danfoss (Tianjin)",
        };
        let refs = Refs {
            supplier: Some(supplier.into()),
            reference: Some(format!("PO-2026-{:04}", 100 + n / 12)),
            at_ms: Some(now - 30 * 86_400_000 + n as i64 * 60_000),
            ..Refs::default()
        };
        let units: Vec<(i64, Option<String>)> = if part.serial_tracked {
            (0..qty)
                .map(|k| {
                    (
                        1,
                        Some(format!(
                            "{}-{:06}",
                            &part.sku[..4],
                            240_000 + n * 10 + k as usize
                        )),
                    )
                })
                .collect()
        } else {
            vec![(qty, None)]
        };
        for (q, serial) in units {
            w.post(
                tx,
                &Movement {
                    kind: Kind::Receive,
                    part,
                    qty: q,
                    from: None,
                    to: Some((&central, Condition::Good)),
                    serial,
                    checked: true,
                    refs: refs.clone(),
                },
            )
            .await?;
        }
        if !part.serial_tracked {
            let point = (qty / 3).max(1);
            reports::set_level(tx, org, &central.id, &part.sku, point, point * 2).await?;
        }
    }
    for (sku, qty) in VAN_KIT.iter().take(6) {
        let part = catalog::require(tx, org, sku).await?;
        w.post(
            tx,
            &Movement {
                kind: Kind::Transfer,
                part: &part,
                qty: qty * 3,
                from: Some((&central, Condition::Good)),
                to: Some((&depot, Condition::Good)),
                serial: None,
                checked: true,
                refs: Refs {
                    note: "depot stock for Pudong".into(),
                    at_ms: Some(now - 20 * 86_400_000),
                    ..Refs::default()
                },
            },
        )
        .await?;
        reports::set_level(tx, org, &depot.id, &part.sku, *qty, qty * 3).await?;
    }

    // Every van gets the kit, topped up from the central warehouse when it runs low.
    let kit: Vec<_> = {
        let mut v = Vec::new();
        for (sku, qty) in VAN_KIT {
            v.push((catalog::require(tx, org, sku).await?, qty));
        }
        v
    };
    let mut motor = None;
    for (e, engineer) in engineers.iter().enumerate() {
        let Some(van) = locations::ensure_van(tx, org, *engineer).await? else {
            continue;
        };
        for (part, qty) in &kit {
            let have = super::ledger::balance(tx, org, &central.id, &part.sku).await?;
            if have.available() < *qty {
                w.post(
                    tx,
                    &Movement {
                        kind: Kind::Receive,
                        part,
                        qty: qty * 10,
                        from: None,
                        to: Some((&central, Condition::Good)),
                        serial: None,
                        checked: true,
                        refs: Refs {
                            supplier: Some("丹佛斯 Danfoss (Tianjin)".into()),
                            reference: Some(format!("PO-2026-{:04}", 900 + e)),
                            ..Refs::default()
                        },
                    },
                )
                .await?;
            }
            w.post(
                tx,
                &Movement {
                    kind: Kind::Issue,
                    part,
                    qty: *qty,
                    from: Some((&central, Condition::Good)),
                    to: Some((&van, Condition::Good)),
                    serial: None,
                    checked: true,
                    refs: Refs {
                        engineer_id: Some(engineer.to_string()),
                        note: "van kit".into(),
                        at_ms: Some(now - 14 * 86_400_000 + e as i64 * 600_000),
                        ..Refs::default()
                    },
                },
            )
            .await?;
            reports::set_level(tx, org, &van.id, &part.sku, (qty / 2).max(1), *qty).await?;
        }
        if e == 0 {
            // One van carries a serial-tracked fan motor for the demo's traceability story.
            let part = catalog::require(tx, org, "MOTOR-FAN-1/3HP").await?;
            let serial: Option<String> = sqlx::query_scalar(
                "SELECT serial FROM serials WHERE org_id = $1 AND sku = $2 AND location_id = $3 \
                 AND state = 'in_stock' ORDER BY serial LIMIT 1",
            )
            .bind(org.to_string())
            .bind(&part.sku)
            .bind(&central.id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(serial) = serial {
                w.post(
                    tx,
                    &Movement {
                        kind: Kind::Issue,
                        part: &part,
                        qty: 1,
                        from: Some((&central, Condition::Good)),
                        to: Some((&van, Condition::Good)),
                        serial: Some(serial.clone()),
                        checked: true,
                        refs: Refs {
                            engineer_id: Some(engineer.to_string()),
                            ..Refs::default()
                        },
                    },
                )
                .await?;
                motor = Some((*engineer, part.sku.clone(), serial));
            }
        }
    }
    // A faulty part came back and waits in quarantine for the supplier.
    let drier = catalog::require(tx, org, "SOL-EVR10").await?;
    w.post(
        tx,
        &Movement {
            kind: Kind::Adjust,
            part: &drier,
            qty: 1,
            from: None,
            to: Some((&quarantine, Condition::Defective)),
            serial: None,
            checked: true,
            refs: Refs {
                reason: Some("found leaking at goods-in inspection".into()),
                ..Refs::default()
            },
        },
    )
    .await?;
    Ok(DemoStock {
        kit: VAN_KIT.iter().map(|(s, _)| (*s).to_owned()).collect(),
        motor,
        lines: 0,
    })
}

impl DemoStock {
    /// Parts used on a finished order (a visit with one to three lines from the van kit; the
    /// engineer with the fan motor installs it on their first completed order), or a parts
    /// request on an order that needs parts. Returns whether the document has lines to post.
    pub fn field_work(
        &mut self,
        doc: &mut WorkOrderDoc,
        target: &Status,
        engineer: UserId,
        field: &EditContext,
        n: usize,
    ) -> sync_core::Result<bool> {
        match target {
            Status::Completed | Status::Closed => {
                let visit = doc.start_visit(field)?;
                if let Some((who, sku, serial)) = self.motor.clone()
                    && who == engineer
                {
                    doc.consume_part(
                        field,
                        &visit,
                        &NewConsumption {
                            sku,
                            qty: 1,
                            serial: Some(serial),
                            replaced_serial: Some(format!("OLD-FM-{n:05}")),
                        },
                    )?;
                    self.motor = None;
                }
                for k in 0..1 + n % 3 {
                    let sku = &self.kit[(n + k * 5) % self.kit.len()];
                    let qty = match sku.as_str() {
                        "R410A-BULK" => 1_500,
                        "CU-3/8IN" => 2_500,
                        _ => 1,
                    };
                    doc.consume_part(
                        field,
                        &visit,
                        &NewConsumption {
                            sku: sku.clone(),
                            qty,
                            serial: None,
                            replaced_serial: None,
                        },
                    )?;
                    self.lines += 1;
                }
                Ok(true)
            }
            Status::NeedsParts => {
                let sku = ["TXV-TE5-R410A", "COMP-SCROLL-ZR48K3E", "CONT-3P-40A-230V"][n % 3];
                doc.request_parts(
                    field,
                    sku,
                    1 + (n % 2) as i64,
                    "客户设备需要更换 / needed to finish the repair",
                )?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Consumption lines recorded so far.
    pub fn lines(&self) -> usize {
        self.lines
    }
}
