package main

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {45 * time.Second, "45s"}, {119 * time.Second, "119s"},
		{5*time.Minute + 30*time.Second, "5m30s"}, {6 * time.Minute, "6m"}, {45 * time.Minute, "45m"},
		{3*time.Hour + 20*time.Minute, "3h20m"}, {5 * time.Hour, "5h"}, {36 * time.Hour, "36h"},
		{53 * time.Hour, "2d5h"}, {72 * time.Hour, "3d"}, {400 * 24 * time.Hour, "400d"}, {3 * 365 * 24 * time.Hour, "3y"},
	} {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)
	if got := when(now.Add(-90*time.Second), now); got != "2025-01-02T03:02:35.006Z (90s ago)" {
		t.Errorf("when: %q", got)
	}
	if got := timestamp(now.In(time.FixedZone("x", 3600))); got != "2025-01-02T03:04:05.006Z" {
		t.Errorf("timestamp in another zone: %q", got)
	}
}

// TestTableFit: the narrow table cuts its cut columns, the widest first,
// to the width, never below a column's header or 8 runes, and never a
// column that is not to be cut; wide leaves everything whole.
func TestTableFit(t *testing.T) {
	cols := []column{{name: "NAME"}, {name: "EXTRA", wide: true}, {name: "META", cut: true}, {name: "PAYLOAD", cut: true}}
	render := func(wide bool, width int, rows ...[]any) string {
		var b strings.Builder
		tb := &table{w: &b, wide: wide, width: width}
		tb.columns(cols...)
		for _, r := range rows {
			tb.add(r...)
		}
		if err := tb.flush(); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	long := strings.Repeat("p", 100)
	out := render(false, 50, []any{"a-long-name-kept-whole", "x", "k=v,k2=ünïcode-värden", long})
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if n := utf8.RuneCountInString(line); n > 49 {
			t.Errorf("a line of %d runes:\n%s", n, out)
		}
	}
	rows := checkTable(t, out, "NAME", "META", "PAYLOAD")
	if rows[0]["NAME"] != "a-long-name-kept-whole" || strings.Contains(out, "EXTRA") ||
		!strings.HasSuffix(rows[0]["PAYLOAD"], "…") || utf8.RuneCountInString(rows[0]["META"]) < 8 {
		t.Errorf("narrow:\n%s", out)
	}
	out = render(true, 0, []any{"n", "x", "m", long})
	if rows := checkTable(t, out, "NAME", "EXTRA", "META", "PAYLOAD"); rows[0]["PAYLOAD"] != long || rows[0]["EXTRA"] != "x" {
		t.Errorf("wide:\n%s", out)
	}
	// Nothing to cut: the line is as long as it is.
	if out := render(false, 10, []any{"n", "x", "m", "p"}); !strings.HasPrefix(out, "NAME  META  PAYLOAD\n") {
		t.Errorf("short:\n%q", out)
	}
	if got := cut("héllo wörld", 6); got != "héllo…" {
		t.Errorf("cut: %q", got)
	}
}
