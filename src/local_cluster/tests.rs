use super::*;

#[test]
fn lifecycle() {
    let bindir = find_bindir().unwrap();
    let cluster = LocalCluster::start(&bindir, "t").unwrap();
    assert_eq!(cluster.name(), "t");
    assert_eq!(cluster.psql("postgres", "select 1").unwrap(), "1");
    assert_eq!(
        cluster.dsn(),
        format!(
            "host={} port={} dbname=postgres user=postgres",
            cluster.socket_dir().display(),
            cluster.port()
        )
    );
    assert!(cluster.dsn_for("other").contains("dbname=other"));
    assert_eq!(
        cluster
            .psql("postgres", "show max_prepared_transactions")
            .unwrap(),
        "10"
    );

    cluster.psql("postgres", "create table t (x int)").unwrap();
    cluster
        .psql("postgres", "insert into t values (42)")
        .unwrap();
    cluster.stop().unwrap();
    assert!(cluster.psql("postgres", "select 1").is_err());
    cluster.restart().unwrap();
    assert_eq!(cluster.psql("postgres", "select x from t").unwrap(), "42");

    cluster.kill().unwrap();
    cluster.restart().unwrap();
    assert_eq!(cluster.psql("postgres", "select 1").unwrap(), "1");

    let err = cluster.psql("postgres", "select nope").unwrap_err();
    assert!(err.to_string().contains("nope"), "{err:#}");

    let dir = cluster.dir.path().to_path_buf();
    assert!(dir.exists());
    drop(cluster);
    assert!(!dir.exists());
}

#[test]
fn parallel_starts_get_distinct_ports() {
    let bindir = find_bindir().unwrap();
    let clusters: Vec<LocalCluster> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|i| {
                let bindir = &bindir;
                s.spawn(move || LocalCluster::start(bindir, &format!("p{i}")).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = clusters.iter().map(LocalCluster::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3);
    for c in &clusters {
        assert_eq!(c.psql("postgres", "select 1").unwrap(), "1");
    }
}

/// The retry loop in `start` depends on recognising a bind failure.
#[test]
fn port_collision_is_recognised() {
    let bindir = find_bindir().unwrap();
    let a = LocalCluster::start(&bindir, "a").unwrap();
    let mut b = LocalCluster::start(&bindir, "b").unwrap();
    b.stop().unwrap();
    b.port = a.port();
    match b.pg_ctl_start() {
        Err(StartError::PortInUse(_)) => {}
        Err(StartError::Other(err)) => panic!("misclassified: {err:#}"),
        Ok(()) => panic!("started on a port that is in use"),
    }
}

#[test]
fn library_path_only_for_a_tree_with_its_own_libpq() {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join("bin");
    let lib = root.path().join("lib");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(&lib).unwrap();
    // Debian's server lib dir: modules, libpqwalreceiver, no libpq.
    fs::write(lib.join("libpqwalreceiver.so"), "").unwrap();
    fs::write(lib.join("dblink.so"), "").unwrap();
    assert_eq!(library_path(&bin), None);
    assert_eq!(library_path(&root.path().join("nope")), None);

    fs::write(lib.join("libpq.so.5"), "").unwrap();
    let path = library_path(&bin).unwrap();
    let first = std::env::split_paths(&path).next().unwrap();
    assert_eq!(first, fs::canonicalize(&lib).unwrap());
}

#[test]
fn major_versions_are_parsed() {
    assert_eq!(parse_major("postgres (PostgreSQL) 17.10"), Some(17));
    assert_eq!(
        parse_major("postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
        Some(15)
    );
    assert_eq!(parse_major("postgres (PostgreSQL) 18beta1"), Some(18));
    assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24"), Some(9));
    assert_eq!(parse_major("postgres"), None);
    let major = server_major(&find_bindir().unwrap()).unwrap();
    assert!(major >= 10, "{major}");
}

#[test]
fn newest_debian_bindir_compares_numerically() {
    let root = tempfile::tempdir().unwrap();
    for v in ["9.6", "10", "15", "notaversion"] {
        let bin = root.path().join(v).join("bin");
        fs::create_dir_all(&bin).unwrap();
        fs::write(bin.join("initdb"), "").unwrap();
    }
    fs::create_dir_all(root.path().join("16/bin")).unwrap(); // no initdb
    assert_eq!(
        newest_debian_bindir(root.path()).unwrap(),
        root.path().join("15/bin")
    );
}
