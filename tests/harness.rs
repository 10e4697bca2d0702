//! Smoke test of the integration-test harness itself, so that a broken
//! environment shows up as one clear failure instead of in every test.

mod common;

#[test]
fn two_nodes_and_config() {
    let nodes = common::start_nodes(2);
    for name in ["a", "b"] {
        assert_eq!(nodes.sql(name, "select 1"), "1");
    }

    let path = nodes.config_path();
    assert!(path.is_file(), "{} missing", path.display());
    let config: toml::Table = std::fs::read_to_string(&path)
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("{} is not valid TOML: {e}", path.display()));
    for name in ["a", "b"] {
        assert_eq!(
            config["nodes"][name]["dsn"].as_str(),
            Some(nodes.node(name).dsn().as_str())
        );
    }
}
