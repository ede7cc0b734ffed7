//! Harness for end-to-end tests: a real PostgreSQL cluster (15 to 18: the major `scripts/test.sh`
//! runs) with scrap_sga installed, fed by the Odoo simulator. `scripts/test.sh` starts the shared
//! cluster and exports:
//!
//! * `SGA_PGPORT`, `SGA_PGHOST`: the shared cluster (each test gets a database of its own);
//! * `SGA_SIM_BIN`: the simulator binary (each test starts its own simulator);
//! * `SGA_PG_BIN`: the PostgreSQL programs with the build under test installed (the test
//!   clusters' private copy; `scripts/lib.sh`), for the clusters some tests start themselves;
//! * `SGA_ODOO_VERSION`: the Odoo the simulator plays, 18 (JSON-RPC, the default) or 20 (JSON-2):
//!   `scripts/test.sh` runs the whole suite once with each.
//!
//! Tests speak to Postgres through `psql`, as an operator would.
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub fn pg_bin(name: &str) -> String {
    let dir = std::env::var("SGA_PG_BIN").expect("SGA_PG_BIN: run the e2e tests through scripts/test.sh");
    format!("{dir}/{name}")
}

/// A database in the shared cluster, with the extension created and pointed at a simulator.
pub struct Db {
    pub name: String,
    pub host: String,
    pub port: String,
}

#[derive(Debug)]
pub struct SqlError {
    pub stderr: String,
}

impl Db {
    /// A fresh database (dropped first if a previous run left it) in the shared cluster.
    pub fn fresh(name: &str) -> Db {
        let host = std::env::var("SGA_PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
        let port = std::env::var("SGA_PGPORT").expect("SGA_PGPORT: run the e2e tests through scripts/test.sh");
        let admin = Db { name: "postgres".into(), host: host.clone(), port: port.clone() };
        admin.sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        admin.sql(&format!("CREATE DATABASE {name}"));
        let db = Db { name: name.into(), host, port };
        db.sql("CREATE EXTENSION scrap_sga");
        db
    }

    fn psql(&self, user: &str, sql: &str) -> std::process::Output {
        Command::new(pg_bin("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", &self.host, "-p", &self.port, "-U", user, "-d", &self.name])
            .args(["-c", "SET TimeZone = 'UTC'", "-c", sql])
            .output()
            .expect("psql runs")
    }

    /// Run SQL as the superuser; the trimmed output, or the error text.
    pub fn try_sql_as(&self, user: &str, sql: &str) -> Result<String, SqlError> {
        let out = self.psql(user, sql);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(SqlError { stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned() })
        }
    }

    /// `sql` run in a session of its own on another thread (a sync that waits, or is cut, while
    /// the test goes on); its result, or psql's error text.
    pub fn spawn_sql(&self, sql: &str) -> std::thread::JoinHandle<Result<String, String>> {
        let (db, sql) = (Db { name: self.name.clone(), host: self.host.clone(), port: self.port.clone() }, sql.to_owned());
        std::thread::spawn(move || db.try_sql(&sql).map_err(|e| e.stderr))
    }

    pub fn try_sql(&self, sql: &str) -> Result<String, SqlError> {
        self.try_sql_as("postgres", sql)
    }

    pub fn sql(&self, sql: &str) -> String {
        match self.try_sql(sql) {
            Ok(s) => s,
            Err(e) => panic!("SQL failed: {sql}\n{}", e.stderr),
        }
    }

    pub fn json(&self, sql: &str) -> Value {
        let text = self.sql(sql);
        serde_json::from_str(if text.is_empty() { "null" } else { &text }).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    pub fn int(&self, sql: &str) -> i64 {
        let text = self.sql(sql);
        text.parse().unwrap_or_else(|_| panic!("not an integer: {text:?} from {sql}"))
    }

    /// Point the extension at the simulator, with the credentials its protocol needs.
    pub fn connect_to(&self, sim: &Sim) {
        self.connect_with(sim, &sim.secret());
    }

    /// Odoo 19 and later: an API key and no login (JSON-2); 18: login and password (JSON-RPC).
    pub fn connect_with(&self, sim: &Sim, secret: &str) {
        self.sql(&Self::set_connection(sim, secret));
    }

    /// The connection, then `sql` (settings of the models it registers), in one transaction: a
    /// worker running every second cannot start a run in between.
    pub fn connect_then(&self, sim: &Sim, sql: &str) {
        self.sql(&format!("{}; {sql}", Self::set_connection(sim, &sim.secret())));
    }

    fn set_connection(sim: &Sim, secret: &str) -> String {
        if sim.version >= 19 {
            format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', secret => '{secret}')", sim.url)
        } else {
            format!("SELECT scrap_sga.set_connection('{}', 'dimagaz', 'admin', '{secret}')", sim.url)
        }
    }

    /// `scrap_sga.sync()` as JSON rows, one per model.
    pub fn sync(&self) -> Value {
        self.json("SELECT json_agg(s) FROM scrap_sga.sync() s")
    }
}

/// The Odoo version the suite runs against (`SGA_ODOO_VERSION`, 18 by default).
pub fn odoo_version() -> u32 {
    std::env::var("SGA_ODOO_VERSION").ok().and_then(|v| v.parse().ok()).unwrap_or(18)
}

/// The method the client asks a fingerprint of a set of records with, on the Odoo the suite plays
/// (Odoo 19 and later: `formatted_read_group`; before: `read_group`).
pub fn fingerprint_method() -> &'static str {
    if odoo_version() >= 19 { "formatted_read_group" } else { "read_group" }
}

/// The simulated user's first API key (40 hex characters, as Odoo makes them).
pub const API_KEY: &str = "5ca7f00d5ca7f00d5ca7f00d5ca7f00d5ca7f00d";

/// The Odoo simulator, stopped when dropped.
pub struct Sim {
    child: Child,
    pub url: String,
    /// The Odoo major version it plays.
    pub version: u32,
    agent: ureq::Agent,
    /// What the extension must present now: the API key (19+) or the password (18).
    secret: std::cell::RefCell<String>,
}

impl Sim {
    /// A simulator of the suite's Odoo version (`SGA_ODOO_VERSION`).
    pub fn start(orders: i64, lines: i64) -> Sim {
        Sim::start_as(odoo_version(), orders, lines)
    }

    pub fn start_as(version: u32, orders: i64, lines: i64) -> Sim {
        Sim::start_with(version, orders, lines, &[])
    }

    /// With more of the simulator's options (`--workers`, `--cost-order-us`, ...).
    pub fn start_with(version: u32, orders: i64, lines: i64, options: &[&str]) -> Sim {
        let bin = std::env::var("SGA_SIM_BIN").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/odoo_sim").into());
        let mut child = Command::new(&bin)
            .args(["--port", "0", "--orders", &orders.to_string(), "--lines", &lines.to_string()])
            .args(["--odoo-version", &version.to_string(), "--api-key", API_KEY])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the simulator {bin}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line.trim().strip_prefix("listening on ").expect("simulator banner").to_owned();
        let secret = if version >= 19 { API_KEY } else { "admin" };
        Sim { child, url, version, agent: ureq::Agent::new_with_defaults(), secret: std::cell::RefCell::new(secret.into()) }
    }

    /// Odoo's clock, in Odoo's datetime format.
    pub fn now(&self) -> String {
        self.advance_clock(0)
    }

    /// Let `secs` pass on Odoo's clock (write dates, the Date header) without waiting them.
    /// Returns the new time.
    pub fn advance_clock(&self, secs: i64) -> String {
        self.post("/sim/clock", json!({"advance_s": secs}))["now"].as_str().unwrap().to_owned()
    }

    pub fn secret(&self) -> String {
        self.secret.borrow().clone()
    }

    /// As when the Odoo user's password changes (18), or their API key is revoked and a new one
    /// made (19+): the old secret stops working at once. Returns the new one.
    pub fn rotate_secret(&self) -> String {
        let new = if self.version >= 19 {
            self.post("/sim/apikey/revoke", json!({"key": self.secret()}));
            self.post("/sim/apikey", json!({}))["key"].as_str().unwrap().to_owned()
        } else {
            self.post("/sim/password", json!({"password": "rotated"}));
            "rotated".to_owned()
        };
        *self.secret.borrow_mut() = new.clone();
        new
    }

    /// How the extension words a refused secret under this simulator's protocol.
    pub fn refusal_text(&self) -> &'static str {
        if self.version >= 19 { "Odoo refused the API key on database \"dimagaz\"" } else { "Odoo refused the login of user \"admin\" on database \"dimagaz\"" }
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        let mut resp = self.agent.post(format!("{}{path}", self.url)).send_json(&body).unwrap_or_else(|e| panic!("POST {path}: {e}"));
        resp.body_mut().read_json().unwrap()
    }

    pub fn get(&self, path: &str) -> Value {
        let mut resp = self.agent.get(format!("{}{path}", self.url)).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
        resp.body_mut().with_config().limit(1 << 30).read_json().unwrap()
    }

    pub fn dump(&self, model: &str) -> Vec<Value> {
        self.get(&format!("/sim/dump?model={model}")).as_array().unwrap().clone()
    }

    /// `fields_get`, as the extension sees it.
    pub fn fields(&self, model: &str) -> serde_json::Map<String, Value> {
        self.get(&format!("/sim/fields?model={model}")).as_object().unwrap().clone()
    }

    pub fn stats(&self) -> Value {
        self.get("/sim/stats")
    }

    /// Requests the simulator answered about models: all but logging in and asking the version.
    pub fn model_requests(&self) -> u64 {
        self.stats()["requests"].as_object().unwrap().iter().filter(|(m, _)| *m != "authenticate" && *m != "version").map(|(_, n)| n.as_u64().unwrap()).sum()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decode base64 (the test's own decoder, so that it checks the extension's rather than sharing it).
pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &c)| n | val(c) << (18 - 6 * i));
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// What a mirror row must hold for one Odoo record, column by column, in `to_jsonb` form
/// (session time zone UTC). Written from the README's mapping rules, independently of the
/// extension's code.
pub fn expected_row(record: &serde_json::Map<String, Value>, fields: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    let mut row = serde_json::Map::new();
    for (name, attrs) in fields {
        if attrs["store"] == json!(false) {
            continue;
        }
        let ftype = attrs["type"].as_str().unwrap();
        let v = record.get(name).cloned().unwrap_or(Value::Null);
        let empty = v == json!(false) || v.is_null();
        let (value, display) = match ftype {
            "boolean" => (v, None),
            "one2many" | "many2many" => (if empty { json!([]) } else { v }, None),
            _ if empty => (Value::Null, if ftype == "many2one" { Some(Value::Null) } else { None }),
            "many2one" => (v[0].clone(), Some(v[1].clone())),
            "datetime" => (json!(format!("{}+00:00", v.as_str().unwrap().replace(' ', "T"))), None),
            "binary" => {
                let hex: String = base64_decode(v.as_str().unwrap()).iter().map(|b| format!("{b:02x}")).collect();
                (json!(format!("\\x{hex}")), None)
            }
            "selection" | "char" | "text" | "html" | "reference" => (v, None),
            _ => (v, None),
        };
        row.insert(name.clone(), value);
        if let Some(d) = display {
            row.insert(format!("{name}_display"), d);
        }
    }
    row
}

/// Compare JSON values, numbers by value (`1.0` and `1` are the same float).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// Every column of every row of `table` against the simulator's records. Returns the mismatches.
pub fn compare_mirror(db: &Db, sim: &Sim, model: &str, table: &str) -> Vec<String> {
    let fields = sim.fields(model);
    let records = sim.dump(model);
    let rows = db.json(&format!("SELECT coalesce(json_agg(to_jsonb(t) - 'sga_synced_at' - 'sga_run_id' - 'sga_deleted_at' ORDER BY id), '[]') FROM {table} t WHERE sga_deleted_at IS NULL"));
    let rows = rows.as_array().unwrap();
    let mut problems = Vec::new();
    if rows.len() != records.len() {
        problems.push(format!("{table}: {} rows, Odoo has {} records", rows.len(), records.len()));
    }
    for (rec, row) in records.iter().zip(rows) {
        let want = expected_row(rec.as_object().unwrap(), &fields);
        let have = row.as_object().unwrap();
        for (col, w) in &want {
            match have.get(col) {
                Some(h) if same(h, w) => {}
                other => problems.push(format!("{table} id {}: column {col}: want {w}, have {other:?}", rec["id"])),
            }
        }
        for col in have.keys() {
            if !want.contains_key(col) {
                problems.push(format!("{table} id {}: unexpected column {col}", rec["id"]));
            }
        }
        if problems.len() > 20 {
            break;
        }
    }
    problems
}

/// [`compare_mirror`] for both dimagaz models: the mismatches of the two tables.
pub fn compare_both_mirrors(db: &Db, sim: &Sim) -> Vec<String> {
    let mut problems = compare_mirror(db, sim, "dimagaz.bc", "scrap_dimagaz_bc");
    problems.extend(compare_mirror(db, sim, "dimagaz.bc.line", "scrap_dimagaz_bc_line"));
    problems
}

/// A count (an integer member) of a run row or a sync() row, with the row in the panic message.
pub fn count(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

/// A simulator with `orders` and `lines`, a fresh database pointed at it, synced `syncs` times
/// (two: the first copy, then the settle run after a moved cursor, so the next run starts quiet).
pub fn started(name: &str, orders: i64, lines: i64, syncs: usize) -> (Sim, Db) {
    let sim = Sim::start(orders, lines);
    let db = Db::fresh(name);
    db.connect_to(&sim);
    for _ in 0..syncs {
        db.sync();
    }
    (sim, db)
}

/// The row of `sync()`'s result for one model.
pub fn row_of<'a>(result: &'a Value, model: &str) -> &'a Value {
    result.as_array().and_then(|a| a.iter().find(|r| r["model"] == model)).unwrap_or_else(|| panic!("no row for {model} in {result}"))
}

impl Db {
    /// The last run of a model, as JSON (every column of scrap_sga.sync_run).
    pub fn last_run(&self, model: &str) -> Value {
        self.json(&format!("SELECT to_jsonb(r) FROM scrap_sga.sync_run r WHERE model = '{model}' ORDER BY run_id DESC LIMIT 1"))
    }

    /// `verify()` once the extension points at `sim` again.
    pub fn verify_after(&self, sim: &Sim) -> Value {
        self.connect_to(sim);
        self.verify()
    }

    /// `scrap_sga.verify()` as JSON rows (an empty list when the mirror matches Odoo).
    pub fn verify(&self) -> Value {
        self.json("SELECT coalesce(json_agg(v), '[]') FROM scrap_sga.verify() v")
    }

    /// The model's cursor, in Odoo's datetime format.
    pub fn cursor(&self, model: &str) -> String {
        self.sql(&format!("SELECT to_char(cursor AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM scrap_sga.model WHERE model = '{model}'"))
    }
}

/// Odoo datetime text shifted by some seconds.
pub fn shift(odoo_datetime: &str, secs: i64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("{odoo_datetime} UTC {secs:+} seconds"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A cluster of a test's own, run as the `postgres` OS user, stopped and removed when dropped.
pub struct Cluster {
    pub dir: std::path::PathBuf,
    pub port: u16,
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    let mut cmd = if unsafe_is_root() { Command::new("runuser") } else { Command::new("sudo") };
    if unsafe_is_root() {
        cmd.args(["-u", "postgres", "--"]);
    } else {
        cmd.args(["-u", "postgres"]);
    }
    cmd.args(args).output().expect("runuser/sudo runs")
}

fn unsafe_is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

impl Cluster {
    /// initdb + start with scrap_sga preloaded and the given extra settings.
    pub fn start(name: &str, settings: &[&str]) -> Cluster {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("scrap_sga_{name}_{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Command::new("chown").args(["postgres:postgres"]).arg(&dir).status().unwrap();
        let data = dir.join("data");
        let out = as_postgres(&[&pg_bin("initdb"), "-D", data.to_str().unwrap(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nmax_worker_processes = 16\nshared_preload_libraries = 'scrap_sga'\n",
            dir.display()
        );
        for s in settings {
            conf.push_str(s);
            conf.push('\n');
        }
        let path = data.join("postgresql.conf");
        let mut all = std::fs::read_to_string(&path).unwrap();
        all.push_str(&conf);
        std::fs::write(&path, all).unwrap();
        let c = Cluster { dir, port };
        c.pg_ctl(&["start", "-w", "-t", "60"]);
        c
    }

    pub fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let mut all = vec![pg_bin("pg_ctl"), "-D".into(), data.to_str().unwrap().into(), "-l".into(), log.to_str().unwrap().into()];
        all.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = as_postgres(&refs);
        assert!(out.status.success(), "pg_ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    pub fn db(&self, name: &str) -> Db {
        Db { name: name.into(), host: "127.0.0.1".into(), port: self.port.to_string() }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = as_postgres(&[&pg_bin("pg_ctl"), "-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Poll `f` every 100 ms until it returns true or `secs` pass; returns whether it did.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}
