//! Issue 34: docs/reference.md covers every function, view, table and setting of the installed
//! extension: each has a section (`### name`) there.
use scrap_sga_e2e::Db;

#[test]
fn every_function_view_table_and_setting_has_its_section_in_the_reference() {
    let db = Db::fresh("e2e_reference");
    let reference = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md")).expect("docs/reference.md");
    let headings: Vec<&str> = reference.lines().filter_map(|l| l.strip_prefix("### ")).map(str::trim).collect();
    // The extension's members: functions, views and tables (its sequences and types go with them).
    // LOAD: the settings exist in a session once the library is loaded there.
    let members = db.sql(
        "LOAD 'scrap_sga'; SELECT string_agg(name, ' ' ORDER BY name) FROM (
            SELECT p.proname::text AS name FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
             WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'scrap_sga')
            UNION
            SELECT c.relname::text FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
             WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e' AND c.relkind IN ('r', 'v')
               AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'scrap_sga')
            UNION
            SELECT name FROM pg_settings WHERE name LIKE 'scrap\\_sga.%') m",
    );
    let names: Vec<&str> = members.split_whitespace().collect();
    assert!(names.len() > 30, "the extension's objects were found: {members}");
    let missing: Vec<&&str> = names.iter().filter(|n| !headings.contains(n)).collect();
    assert!(missing.is_empty(), "not in docs/reference.md (a '### name' section each): {missing:?}");
}
