//! A small line diff (Myers' O((N+M)D) algorithm) printed as a unified diff, for `--diff`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Keep,
    Delete,
    Insert,
}

/// Edit script turning `a` into `b`, as (op, index in a or b).
fn myers(a: &[&str], b: &[&str]) -> Vec<(Op, usize)> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    let mut v = vec![0isize; 2 * max + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    'outer: for d in 0..=max as isize {
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let idx = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[idx - 1] < v[idx + 1]) {
                v[idx + 1]
            } else {
                v[idx - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx] = x;
            if x >= n && y >= m {
                break 'outer;
            }
            k += 2;
        }
    }
    // backtrack
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (0..trace.len() as isize).rev() {
        let v = &trace[d as usize];
        let k = x - y;
        let prev_k =
            if k == -d || (k != d && v[(k - 1 + offset) as usize] < v[(k + 1 + offset) as usize]) {
                k + 1
            } else {
                k - 1
            };
        let prev_x = if d == 0 {
            0
        } else {
            v[(prev_k + offset) as usize]
        };
        let prev_y = prev_x - prev_k;
        while x > prev_x.max(0) && y > prev_y.max(0) {
            x -= 1;
            y -= 1;
            ops.push((Op::Keep, x as usize));
        }
        if d == 0 {
            break;
        }
        if x == prev_x {
            y -= 1;
            ops.push((Op::Insert, y as usize));
        } else {
            x -= 1;
            ops.push((Op::Delete, x as usize));
        }
    }
    ops.reverse();
    ops
}

fn split_lines(s: &str) -> Vec<&str> {
    s.split_inclusive('\n').collect()
}

fn push_line(out: &mut String, prefix: char, line: &str) {
    out.push(prefix);
    out.push_str(line);
    if !line.ends_with('\n') {
        out.push_str("\n\\ No newline at end of file\n");
    }
}

/// Unified diff of `old` → `new` with 3 lines of context; empty when equal.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    if old == new {
        return String::new();
    }
    let (a, b) = (split_lines(old), split_lines(new));
    let ops = myers(&a, &b);
    // positions (ai, bi) before each op
    let mut pos = Vec::with_capacity(ops.len());
    let (mut ai, mut bi) = (0usize, 0usize);
    for (op, _) in &ops {
        pos.push((ai, bi));
        match op {
            Op::Keep => {
                ai += 1;
                bi += 1;
            }
            Op::Delete => ai += 1,
            Op::Insert => bi += 1,
        }
    }
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    const CTX: usize = 3;
    let changed: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].0 != Op::Keep).collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CTX);
        let mut end = changed[i];
        let mut j = i;
        while j + 1 < changed.len() && changed[j + 1] <= end + 2 * CTX + 1 {
            j += 1;
            end = changed[j];
        }
        let end = (end + CTX + 1).min(ops.len());
        let (a0, b0) = pos[start];
        let (mut na, mut nb) = (0, 0);
        for (op, _) in &ops[start..end] {
            match op {
                Op::Keep => {
                    na += 1;
                    nb += 1;
                }
                Op::Delete => na += 1,
                Op::Insert => nb += 1,
            }
        }
        let range = |s: usize, n: usize| {
            if n == 1 {
                format!("{}", s + 1)
            } else if n == 0 {
                format!("{s},0")
            } else {
                format!("{},{}", s + 1, n)
            }
        };
        out.push_str(&format!("@@ -{} +{} @@\n", range(a0, na), range(b0, nb)));
        for (op, idx) in &ops[start..end] {
            match op {
                Op::Keep => push_line(&mut out, ' ', a[*idx]),
                Op::Delete => push_line(&mut out, '-', a[*idx]),
                Op::Insert => push_line(&mut out, '+', b[*idx]),
            }
        }
        i = j + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_is_empty() {
        assert_eq!(unified("a\n", "a\n", "x", "y"), "");
    }

    #[test]
    fn simple_change() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n", "old", "new");
        assert_eq!(d, "--- old\n+++ new\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    }

    #[test]
    fn create_and_delete() {
        assert_eq!(
            unified("", "x\ny\n", "/dev/null", "f"),
            "--- /dev/null\n+++ f\n@@ -0,0 +1,2 @@\n+x\n+y\n"
        );
        assert_eq!(
            unified("x\n", "", "f", "/dev/null"),
            "--- f\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
        );
    }

    #[test]
    fn separate_hunks_and_no_newline() {
        let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let new: String = (1..=20)
            .map(|i| match i {
                2 => "two\n".to_string(),
                19 => "nineteen\n".to_string(),
                i => format!("{i}\n"),
            })
            .collect::<String>()
            + "end";
        let d = unified(&old, &new, "a", "b");
        assert_eq!(d.matches("@@ ").count(), 2, "{d}");
        assert!(d.contains("+end\n\\ No newline at end of file\n"), "{d}");
        assert!(
            d.contains("@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"),
            "{d}"
        );
    }
}
