-- The language a user chose in the web console (`en`, `zh-CN`); NULL: from the browser.
ALTER TABLE users ADD COLUMN locale TEXT;
