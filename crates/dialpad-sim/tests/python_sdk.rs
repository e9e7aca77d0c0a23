//! The official Dialpad Python SDK (python-dialpad 3.2.0 from PyPI), unchanged, runs a scenario
//! against the simulator: `tests/python_sdk/scenario.py`.
//!
//! A venv is created once under `CARGO_TARGET_TMPDIR` (`py-dialpad-3.2.0`) and reused while
//! `import dialpad` works in it. Needs `python3` (3.11) and PyPI (or `PIP_FIND_LINKS`); a failing
//! venv or pip install fails the test with pip's output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dialpad_sim::SimConfig;

const SDK: &str = "python-dialpad==3.2.0";

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

fn show(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The venv's python with python-dialpad 3.2.0 installed (created on first use).
fn sdk_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("py-dialpad-3.2.0");
    let python = venv.join("bin").join("python");
    let ready = |p: &Path| {
        p.exists()
            && Command::new(p)
                .args(["-c", "import dialpad, importlib.metadata as m; assert m.version('python-dialpad') == '3.2.0'"])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if ready(&python) {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    assert!(
        made.status.success(),
        "python3 -m venv {} failed:\n{}",
        venv.display(),
        show(&made)
    );
    let pip = run(Command::new(&python).args(["-m", "pip", "install", "--quiet", SDK]));
    assert!(
        pip.status.success(),
        "pip install {SDK} failed:\n{}",
        show(&pip)
    );
    assert!(
        ready(&python),
        "{SDK} installed but `import dialpad` fails in {}",
        venv.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_runs_unchanged_against_the_simulator() {
    // pip may take a while: keep it off the async workers.
    let python = tokio::task::spawn_blocking(sdk_python)
        .await
        .unwrap_or_else(|e| panic!("venv setup panicked: {e}"));
    // Rate limits on, as `dialpad-connector sim` runs by default: the scenario must cope with
    // Dialpad's 429s the way a real integration does (honouring Retry-After).
    let sim = dialpad_sim::spawn(SimConfig {
        rate_limit: true,
        ..SimConfig::default()
    })
    .await
    .unwrap_or_else(|e| panic!("spawn simulator: {e}"));

    let ops: Vec<serde_json::Value> = dialpad_sim::operations::all()
        .iter()
        .map(|o| serde_json::json!({"method": o.method, "path": o.path}))
        .collect();
    let ops_file =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-ops-{}.json", std::process::id()));
    std::fs::write(&ops_file, serde_json::to_vec(&ops).unwrap_or_default())
        .unwrap_or_else(|e| panic!("writing {}: {e}", ops_file.display()));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python_sdk/scenario.py");
    let (base, key) = (sim.base_url.clone(), sim.api_key.clone());
    let ops_arg = ops_file.clone();
    let out = tokio::task::spawn_blocking(move || {
        run(Command::new(&python)
            .arg(script)
            .arg(&base)
            .arg(&key)
            .arg(&ops_arg)
            .env("PYTHONUNBUFFERED", "1"))
    })
    .await
    .unwrap_or_else(|e| panic!("scenario runner panicked: {e}"));
    let _ = std::fs::remove_file(&ops_file);

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the python-dialpad scenario failed:\n{}",
        show(&out)
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("python-dialpad 3.2.0 scenario:"));
    assert!(
        summary.is_some(),
        "no summary line in the scenario's output:\n{}",
        show(&out)
    );
    println!("{}", summary.unwrap_or_default());
}
