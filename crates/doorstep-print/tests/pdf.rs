//! The sheets read back with poppler: the text `pdftotext` finds (Vietnamese included), the
//! fonts `pdffonts` says are embedded, and the pages `pdftoppm` renders (not blank).

use std::path::Path;
use std::process::Command;

use chrono::{NaiveDate, TimeZone, Utc};
use doorstep_domain::{new_id, Internet, Outcome, PriorityFlags, WalkRow};
use doorstep_print::{follow_ups, walk_list, Heading};

fn row(alley: &str, number: u32) -> WalkRow {
    WalkRow {
        id: new_id(),
        group_id: new_id(),
        group: "Tổ 7".into(),
        alley: alley.into(),
        number: number.to_string(),
        members: Some(3),
        priority: PriorityFlags::default(),
        internet: Internet::Unknown,
        name: None,
        visits: 0,
        last_outcome: None,
        last_visit: None,
        follow_up: None,
        follow_up_reason: None,
        assigned_to: None,
        phone: None,
    }
}

/// 150 households in three alleys; a few with consented names, visits and follow-ups.
fn ward() -> Vec<WalkRow> {
    let mut rows = Vec::new();
    for (a, alley) in ["Ngõ 12 Hàng Bông", "Ngách 34/5 Phố Huế", "Ngõ Tạm Thương"]
        .iter()
        .enumerate()
    {
        for n in 1..=50 {
            let mut r = row(alley, n);
            if n % 10 == 1 {
                r.name = Some(format!("Nguyễn Thị Hoà {a}{n}"));
                r.phone = Some("0912 345 678".into());
                r.priority.elderly = true;
                r.priority.near_poor = true;
                r.internet = Internet::No;
            }
            if n % 7 == 0 {
                r.visits = 2;
                r.last_outcome = Some(Outcome::NotHome);
                // 23:30 UTC on the 27th is the 28th in Hanoi.
                r.last_visit = Some(Utc.with_ymd_and_hms(2026, 11, 27, 23, 30, 0).unwrap());
                r.follow_up = NaiveDate::from_ymd_opt(2026, 11, 25 + n % 3 * 3);
                r.follow_up_reason = Some("Mang điện thoại để kích hoạt VNeID mức 2".into());
                r.assigned_to = Some("Trần Văn Đức".into());
            }
            rows.push(r);
        }
    }
    rows
}

fn heading() -> Heading<'static> {
    Heading {
        ward: "Phường Hoàn Kiếm",
        group: "Tổ 7",
        printed_on: NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
    }
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| {
        panic!("{program} is needed to read the PDF back (poppler-utils, installed by scripts/setup.sh): {e}")
    });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// How many pages a `pdftotext` output has (each ends in the "Trang i / n" footer).
fn pages_of(text: &str) -> usize {
    text.matches("· Page ").count()
}

fn text_of(pdf: &Path) -> String {
    run("pdftotext", &["-layout", pdf.to_str().unwrap(), "-"])
}

/// The share of dark pixels on each rendered page (grey levels, 40 dpi).
fn ink_per_page(pdf: &Path, dir: &Path) -> Vec<f64> {
    let prefix = dir.join("page");
    run(
        "pdftoppm",
        &[
            "-gray",
            "-r",
            "40",
            pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    pages.sort();
    pages
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            // P5 header: "P5\n<w> <h>\n255\n", then one byte per pixel.
            let mut fields = 0;
            let mut start = 0;
            for (i, b) in bytes.iter().enumerate() {
                if b.is_ascii_whitespace() {
                    fields += 1;
                    if fields == 4 {
                        start = i + 1;
                        break;
                    }
                }
            }
            let pixels = &bytes[start..];
            assert!(pixels.len() > 10_000, "a page of {} pixels", pixels.len());
            pixels.iter().filter(|&&v| v < 128).count() as f64 / pixels.len() as f64
        })
        .collect()
}

#[test]
fn walk_list_reads_back_in_vietnamese_on_a4_pages() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("walk.pdf");
    let printed = walk_list(&heading(), &ward()).unwrap();
    assert_eq!(printed.rows, 150);
    std::fs::write(&pdf, &printed.pdf).unwrap();

    let info = run("pdfinfo", &[pdf.to_str().unwrap()]);
    assert!(info.contains("841.89 x 595.28 pts (A4)"), "{info}");
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("page count");
    assert!(pages >= 3, "150 households on {pages} pages");
    assert_eq!(printed.pages, pages);

    let text = text_of(&pdf);
    for expected in [
        "Danh sách đi hộ · Walk list",
        "Phường Hoàn Kiếm",
        "Tổ dân phố / Residential group: Tổ 7",
        "In ngày / Printed: 28/11/2026",
        "150 hộ / households",
        "Ngõ 12 Hàng Bông (50 hộ / households)",
        "Ngách 34/5 Phố Huế (50 hộ / households)",
        "Nguyễn Thị Hoà 011",
        "0912 345 678",
        "NCT, CN",
        "Vắng nhà, 28/11 (2 lần)",
        "Trần Văn Đức",
        "Kết quả hôm nay, ghi chú",
        "không chụp ảnh hay chia sẻ",
        &format!("Trang {pages} / {pages}"),
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} not in the PDF's text:\n{text}"
        );
    }
    // A page that starts inside an alley says which alley it is.
    assert!(text.contains("(tiếp / continued)"), "{text}");
    // Every household once, numbered 1..150 in walk order.
    assert_eq!(text.matches("Nguyễn Thị Hoà").count(), 15);

    let fonts = run("pdffonts", &[pdf.to_str().unwrap()]);
    let embedded: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!embedded.is_empty(), "{fonts}");
    for line in &embedded {
        assert!(line.contains("DejaVuSans"), "{line}");
        // columns: name type encoding emb sub uni ...
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(cols.contains(&"yes"), "font not embedded: {line}");
    }

    let ink = ink_per_page(&pdf, dir.path());
    assert_eq!(ink.len(), pages);
    eprintln!("ink per page: {ink:?}");
    assert!(ink[0] > 0.005, "a full page of rows and rules: {ink:?}");
    for (i, share) in ink.iter().enumerate() {
        assert!(*share > 0.003, "page {} is nearly blank ({share})", i + 1);
    }
}

#[test]
fn follow_up_list_marks_the_overdue_and_leaves_out_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("follow.pdf");
    let rows = ward();
    let open = rows.iter().filter(|r| r.follow_up.is_some()).count();
    let overdue = rows
        .iter()
        .filter(|r| r.follow_up.is_some_and(|d| d < heading().printed_on))
        .count();
    assert!(open > overdue && overdue > 0, "the ward has both kinds");
    std::fs::write(&pdf, follow_ups(&heading(), &rows).unwrap().pdf).unwrap();

    let text = text_of(&pdf);
    assert!(
        text.contains("Danh sách hẹn lại · Follow-up list"),
        "{text}"
    );
    assert!(
        text.contains(&format!("{open} hẹn, {overdue} quá hạn")),
        "{open} open, {overdue} overdue:\n{text}"
    );
    assert_eq!(
        text.matches("QUÁ HẠN").count() - pages_of(&text),
        overdue,
        "{text}"
    );
    assert_eq!(text.matches("Mang điện thoại").count(), open, "{text}");
    assert!(text.contains("Số 7, Ngõ 12 Hàng Bông"), "{text}");
    // Earliest first: the first date printed is the earliest follow-up.
    let earliest = rows.iter().filter_map(|r| r.follow_up).min().unwrap();
    let first = text
        .split_whitespace()
        .find(|w| w.len() == 10 && w.as_bytes()[2] == b'/' && *w != "28/11/2026")
        .expect("a date");
    assert_eq!(first, earliest.format("%d/%m/%Y").to_string());
    assert!(ink_per_page(&pdf, dir.path()).iter().all(|s| *s > 0.003));
}

#[test]
fn an_empty_group_prints_one_page_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("empty.pdf");
    std::fs::write(&pdf, walk_list(&heading(), &[]).unwrap().pdf).unwrap();
    let text = text_of(&pdf);
    assert!(text.contains("Tổ này chưa có hộ nào."), "{text}");
    assert!(text.contains("Trang 1 / 1"), "{text}");
    let pdf2 = dir.path().join("empty2.pdf");
    std::fs::write(&pdf2, follow_ups(&heading(), &ward()[..3]).unwrap().pdf).unwrap();
    assert!(text_of(&pdf2).contains("No follow-ups are open in this group."));
}

#[test]
fn long_text_wraps_inside_its_cell_instead_of_running_over() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("long.pdf");
    let mut r = row("Ngõ 1", 1);
    r.name = Some("Nguyễn Hoàng Phương Thảo Nguyên Khánh Linh".into());
    r.follow_up = NaiveDate::from_ymd_opt(2026, 12, 1);
    r.follow_up_reason = Some("Đưa bác đến công an phường để xác thực tài khoản định danh điện tử mức 2, nhớ mang căn cước".into());
    std::fs::write(&pdf, follow_ups(&heading(), &[r]).unwrap().pdf).unwrap();
    let text = text_of(&pdf);
    // Every word is there, over several lines of the cell (the reason is ~400 pt at 8.5 pt,
    // its column 130 pt).
    for word in ["Đưa", "xác", "thực", "căn", "cước", "Linh"] {
        assert!(text.contains(word), "{word} missing:\n{text}");
    }
    let line_of = |word: &str| text.lines().position(|l| l.contains(word)).unwrap();
    assert!(line_of("cước") >= line_of("Đưa") + 2, "{text}");
    assert!(line_of("Linh") > line_of("Nguyễn Hoàng"), "{text}");
}
