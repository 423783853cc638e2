//! Every figure, drawn and decoded back.

use super::lines as lines_figure;
use super::small_multiples::aggregate;
use super::*;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lrmem-plot-test-{}", std::process::id()));
    dir.join(name)
}

/// Checks the magic bytes of both files and the PNG's decoded size.
fn check(paths: &[PathBuf; 2], svg_size: (u32, u32)) {
    let svg = std::fs::read_to_string(&paths[0]).expect("svg written");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(40)]);
    assert!(svg.len() > 200);
    let png = std::fs::read(&paths[1]).expect("png written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().expect("decodes");
    let info = reader.info();
    assert_eq!(
        (info.width, info.height),
        (svg_size.0 * PNG_SCALE, svg_size.1 * PNG_SCALE)
    );
}

/// The texts of an SVG written by plotters (one per line between the tags).
fn svg_text(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("svg written")
        .lines()
        .filter(|l| !l.starts_with('<') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn panel(label: &str, shift: f64) -> Panel {
    Panel {
        label: label.into(),
        runs: (0..3)
            .map(|k| {
                (0..=30)
                    .map(|i| {
                        let x = i as f64 * 100.0;
                        (x, 1.0 - 0.5 * (-(x + shift * k as f64) / 400.0).exp())
                    })
                    .collect()
            })
            .collect(),
    }
}

#[test]
fn small_multiples_writes_svg_and_png() {
    let mut panels: Vec<Panel> = (0..7)
        .map(|i| panel(&format!("arm-{i}"), 50.0 * i as f64))
        .collect();
    // An empty panel, an empty run and NaN points are skipped.
    panels.push(Panel {
        label: "empty".into(),
        runs: vec![],
    });
    panels[1].runs.push(vec![]);
    panels[2].runs[0][3].1 = f64::NAN;
    panels[2].runs[1][4].0 = f64::INFINITY;
    let stem = tmp("multiples");
    let frame = Frame {
        title: "test accuracy",
        x_label: "updates",
        y_label: "accuracy",
        threshold: Some(0.98),
        y_range: (0.5, 1.0),
        x_max: 3000.0,
    };
    let paths = small_multiples(&stem, &frame, &panels).expect("drawn");
    assert_eq!(paths[0], tmp("multiples.svg"));
    check(&paths, small_multiples_size(panels.len()));
    let text = svg_text(&paths[0]);
    assert!(text.contains(&"arm-6".to_string()) && text.contains(&"empty".to_string()));
    // Integer ticks, never exponents.
    assert!(text.contains(&"2000".to_string()), "{text:?}");
    assert!(!text
        .iter()
        .any(|t| t.contains("e3") || t.contains("2000.0")));
}

#[test]
fn small_multiples_rejects_what_it_cannot_draw() {
    let stem = tmp("bad");
    let p = [panel("a", 0.0)];
    let frame = |threshold, y_range, x_max| Frame {
        title: "t",
        x_label: "x",
        y_label: "y",
        threshold,
        y_range,
        x_max,
    };
    assert!(matches!(
        small_multiples(&stem, &frame(None, (0.0, 1.0), 10.0), &[]),
        Err(PlotError::NoData { .. })
    ));
    assert!(matches!(
        small_multiples(&stem, &frame(None, (1.0, 0.0), 10.0), &p),
        Err(PlotError::InvalidRange { axis: "y", .. })
    ));
    assert!(matches!(
        small_multiples(&stem, &frame(None, (0.0, 1.0), f64::NAN), &p),
        Err(PlotError::InvalidRange { axis: "x", .. })
    ));
    // A NaN threshold is no threshold.
    assert!(small_multiples(&stem, &frame(Some(f64::NAN), (0.0, 1.0), 10.0), &p).is_ok());
}

#[test]
fn updates_bars_writes_svg_and_png() {
    let rows: Vec<BarRow> = (0..6)
        .map(|i| BarRow {
            label: format!("meta-sgd-xi0.01 · task {}", i % 3 + 1),
            mean: if i == 4 { f64::NAN } else { 300.0 * i as f64 },
            seeds: vec![(250.0 * i as f64, false), (3000.0, true), (f64::NAN, false)],
            colour: i / 3,
        })
        .collect();
    let paths = updates_bars(&tmp("bars.xi0.01"), "updates to 98%", &rows, 3000.0).expect("drawn");
    assert_eq!(paths[1], tmp("bars.xi0.01.png"));
    check(&paths, updates_bars_size(rows.len()));
    let text = svg_text(&paths[0]);
    assert!(
        text.contains(&"meta-sgd-xi0.01 · task 3".to_string()),
        "{text:?}"
    );
    assert!(text.contains(&"3000".to_string()), "{text:?}");
    assert!(!text.iter().any(|t| t.contains("e3")));
    assert!(matches!(
        updates_bars(&tmp("bars-empty"), "t", &[], 3000.0),
        Err(PlotError::NoData { .. })
    ));
    assert!(matches!(
        updates_bars(&tmp("bars-cap"), "t", &rows, 0.0),
        Err(PlotError::InvalidRange { .. })
    ));
}

#[test]
fn log_log_lines_writes_svg_and_png() {
    let d = [1e3, 1e5, 1e6, 1e7];
    let lines = vec![
        Line {
            label: "adam".into(),
            points: d.iter().map(|&x| (x, 0.5 + 1e3 / x)).collect(),
            colour: colour(0),
            dashed: false,
        },
        Line {
            label: "copy".into(),
            points: vec![(1e3, 0.1), (1e5, f64::NAN), (1e7, 0.0), (1e6, 0.3)],
            colour: BLACK,
            dashed: true,
        },
        Line {
            label: "nothing".into(),
            points: vec![(f64::NAN, 1.0)],
            colour: colour(1),
            dashed: false,
        },
    ];
    let paths = log_log_lines(&tmp("loglog"), ["scaling", "D", "ns"], &lines).expect("drawn");
    check(&paths, LOG_LOG_SIZE);
    assert!(matches!(
        log_log_lines(&tmp("loglog-empty"), ["t", "x", "y"], &lines[2..]),
        Err(PlotError::NoData { .. })
    ));
}

/// Linear axes take negative values (a learning rate below zero), skip what is not finite
/// and refuse a figure with nothing to draw.
#[test]
fn lines_take_values_of_either_sign() {
    let lines = vec![
        Line {
            label: "α_r = 10".into(),
            points: (-8..=4)
                .map(|i| (f64::from(i) * 10.0, 1.0 + f64::from(i * i) / 100.0))
                .collect(),
            colour: colour(0),
            dashed: false,
        },
        Line {
            label: "no inner loop".into(),
            points: vec![(-80.0, 1.05), (f64::INFINITY, 1.0), (40.0, 1.05)],
            colour: BLACK,
            dashed: true,
        },
    ];
    let paths = lines_figure(&tmp("lines"), ["MAML", "α_t", "test loss"], &lines).expect("drawn");
    check(&paths, LOG_LOG_SIZE);
    let nothing = [Line {
        points: vec![(f64::NAN, 1.0)],
        ..lines[0].clone()
    }];
    assert!(matches!(
        lines_figure(&tmp("lines-empty"), ["t", "x", "y"], &nothing),
        Err(PlotError::NoData { .. })
    ));
}

#[test]
fn ticks_are_integers_where_integers_are_meant() {
    assert_eq!(tick_label(2500.0), "2500");
    assert_eq!(tick_label(-0.0), "0");
    assert_eq!(tick_label(0.95), "0.95");
    assert_eq!(tick_label(0.5), "0.5");
    assert_eq!(log_tick_label(1e6), "10⁶");
    assert_eq!(log_tick_label(0.01), "10⁻²");
    assert_eq!(log_tick_label(3000.0), "3000");
}

#[test]
fn aggregate_takes_mean_min_max_per_x() {
    let runs = vec![
        vec![(0.0, 0.6), (1.0, 0.8)],
        vec![(0.0, 0.4), (1.0, f64::NAN)],
    ];
    let a = aggregate(&runs, 10.0, (0.5, 1.0));
    assert_eq!(a, vec![[0.0, 0.55, 0.5, 0.6], [1.0, 0.8, 0.8, 0.8]]);
}

/// The palette is matplotlib's tab10, then black and gold.
#[test]
fn the_palette_is_tab10_then_black_and_gold() {
    assert_eq!(COLOURS[0], RGBColor(31, 119, 180));
    assert_eq!(COLOURS[9], RGBColor(23, 190, 207));
    assert_eq!(COLOURS[10], RGBColor(0, 0, 0));
    assert_eq!(COLOURS[11], RGBColor(255, 215, 0));
    assert_eq!(colour(12), COLOURS[0]);
}
