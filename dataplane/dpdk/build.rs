//! Without the `dpdk` feature: nothing (the crate is an empty library).
//!
//! With it: finds DPDK through pkg-config, generates Rust declarations for
//! the part of its API this crate uses with bindgen (fed every flag of
//! `pkg-config --cflags libdpdk`: `-include rte_config.h` and `-march=...`
//! change what the headers declare), compiles the C shim of `shim/` for the
//! static-inline fast path, and links against the system's shared DPDK
//! libraries (drivers are then loaded at run time from DPDK's driver directory).

fn main() {
    #[cfg(feature = "dpdk")]
    with_dpdk::build();
}

#[cfg(feature = "dpdk")]
mod with_dpdk {
    use std::env;
    use std::path::PathBuf;
    use std::process::Command;

    const INSTALL_HINT: &str = "install it (Debian 12: `apt-get install -y dpdk-dev libdpdk-dev pkg-config \
                                libclang-dev clang`) or build without the `dpdk` feature";

    /// DPDK functions bound from the headers (exported symbols only; the
    /// inline ones go through the shim, `netcraq_*`).
    const FUNCTIONS: &[&str] = &[
        "rte_eal_init",
        "rte_strerror",
        "rte_thread_register",
        "rte_get_main_lcore",
        "rte_get_next_lcore",
        "rte_eal_remote_launch",
        "rte_eal_wait_lcore",
        "rte_pktmbuf_pool_create",
        "rte_mempool_avail_count",
        "rte_dev_probe",
        "rte_dev_remove",
        "rte_eth_dev_get_port_by_name",
        "rte_eth_dev_info_get",
        "rte_eth_dev_adjust_nb_rx_tx_desc",
        "rte_eth_dev_configure",
        "rte_eth_rx_queue_setup",
        "rte_eth_tx_queue_setup",
        "rte_eth_dev_start",
        "rte_eth_dev_stop",
        "rte_eth_dev_close",
        "rte_eth_promiscuous_enable",
        "rte_eth_dev_socket_id",
        "rte_eth_macaddr_get",
        "rte_eth_stats_get",
        "rte_eth_link_get_nowait",
        "rte_ring_create",
        "rte_eth_from_rings",
        "netcraq_.*",
    ];
    const VARIABLES: &[&str] = &["RTE_MAX_LCORE", "RTE_MAX_ETHPORTS", "RTE_PKTMBUF_HEADROOM", "SOCKET_ID_ANY"];
    /// Types only handled through pointers, whose layout Rust never needs.
    /// (`rte_mbuf` is laid out: the safe layer reads its fields inline.)
    const OPAQUE: &[&str] = &["rte_mempool", "rte_ring", "rte_device"];

    pub fn build() {
        for file in ["shim/netcraq_shim.h", "shim/netcraq_shim.c", "build.rs"] {
            println!("cargo:rerun-if-changed={file}");
        }
        println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
        let library = pkg_config::Config::new()
            .atleast_version("22.11")
            .cargo_metadata(false)
            .probe("libdpdk")
            .unwrap_or_else(|error| panic!("netcraq-dpdk: DPDK (libdpdk) not found: {error}\n{INSTALL_HINT}"));
        let cflags = all_cflags();

        let mut shim = cc::Build::new();
        shim.file("shim/netcraq_shim.c").opt_level(2).warnings(false);
        for flag in &cflags {
            shim.flag(flag);
        }
        // Emits the static library before the DPDK libraries it calls into.
        shim.compile("netcraq_dpdk_shim");

        for path in &library.link_paths {
            println!("cargo:rustc-link-search=native={}", path.display());
        }
        for lib in &library.libs {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
        // rte_eth_from_rings lives in the ring driver, which libdpdk.pc leaves out.
        println!("cargo:rustc-link-lib=dylib=rte_net_ring");

        let mut builder = bindgen::Builder::default()
            .header("shim/netcraq_shim.h")
            .clang_args(&cflags)
            .allowlist_recursively(true)
            .derive_default(true)
            .derive_debug(false)
            .layout_tests(false)
            .generate_comments(false)
            .prepend_enum_name(false)
            .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
        for function in FUNCTIONS {
            builder = builder.allowlist_function(function);
        }
        for variable in VARIABLES {
            builder = builder.allowlist_var(variable);
        }
        for opaque in OPAQUE {
            builder = builder.opaque_type(opaque);
        }
        let bindings = builder.generate().unwrap_or_else(|error| {
            panic!("netcraq-dpdk: bindgen failed on the DPDK headers: {error}\n{INSTALL_HINT}")
        });
        let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("dpdk_bindings.rs");
        bindings.write_to_file(&out).unwrap_or_else(|error| panic!("writing {}: {error}", out.display()));
    }

    /// Every flag of `pkg-config --cflags libdpdk`, in order (the pkg-config
    /// crate keeps only include paths and defines).
    fn all_cflags() -> Vec<String> {
        let output = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
            .args(["--cflags", "libdpdk"])
            .output()
            .unwrap_or_else(|error| panic!("netcraq-dpdk: running pkg-config: {error}\n{INSTALL_HINT}"));
        if !output.status.success() {
            panic!(
                "netcraq-dpdk: pkg-config --cflags libdpdk failed: {}\n{INSTALL_HINT}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_owned).collect()
    }
}
