package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/term"
)

// Output. Every command that prints a result prints it in the --output
// format: "table" (aligned columns for people, narrow enough for 80
// columns), "wide" (the same with more columns, nothing cut), "json"
// (indented) or "yaml". JSON and YAML show the API's own objects, field
// for field. Absolute times are in one format (timestamp), ages relative
// (age).

// The output formats of --output.
var outputFormats = []string{"table", "wide", "json", "yaml"}

// emit writes v in the global output format, or calls detail for table
// and wide: a view of one object, as "KEY  value" lines.
func (g *globals) emit(w io.Writer, v any, detail func(*tabwriter.Writer)) error {
	switch g.output {
	case "json":
		return writeJSON(w, v, true)
	case "yaml":
		return writeYAML(w, v)
	}
	tw := newTable(w)
	detail(tw)
	return tw.Flush()
}

// emitTable writes v in the global output format, or for table and wide
// the table fill makes of it.
func (g *globals) emitTable(w io.Writer, v any, fill func(*table)) error {
	switch g.output {
	case "json":
		return writeJSON(w, v, true)
	case "yaml":
		return writeYAML(w, v)
	}
	t := g.newTable(w)
	fill(t)
	return t.flush()
}

// column is a column of a table.
type column struct {
	name string
	// wide: shown with -o wide only.
	wide bool
	// cut: in the narrow table, cells are cut (ending in "…") so that the
	// lines fit the width; names and numbers never are.
	cut bool
}

// table is a table for people: a header (unless --no-headers) and rows,
// aligned when flushed, two spaces between columns. In the narrow form
// (-o table) the wide-only columns are left out and the cut columns are
// shortened until each line fits the width: the terminal's, or 80
// columns when the output is not a terminal. -o wide shows everything
// whole. Use one from one goroutine.
type table struct {
	w        io.Writer
	width    int // 0: no limit
	wide     bool
	noHeader bool
	cols     []column
	rows     [][]string
}

// newTable makes the table of the global flags, writing to w.
func (g *globals) newTable(w io.Writer) *table {
	t := &table{w: w, wide: g.output == "wide", noHeader: g.noHeaders}
	if !t.wide {
		t.width = termWidth(w, 80)
	}
	return t
}

// columns sets the columns; each row then gives a cell for each of them,
// wide-only ones included.
func (t *table) columns(cols ...column) { t.cols = cols }

// add adds a row: a cell (formatted by cell) for every column.
func (t *table) add(cells ...any) {
	r := make([]string, 0, len(cells))
	for i, c := range cells {
		if i < len(t.cols) && t.cols[i].wide && !t.wide {
			continue
		}
		r = append(r, cell(c))
	}
	t.rows = append(t.rows, r)
}

// shown returns the columns shown.
func (t *table) shown() []column {
	var out []column
	for _, c := range t.cols {
		if t.wide || !c.wide {
			out = append(out, c)
		}
	}
	return out
}

// flush writes the table.
func (t *table) flush() error {
	cols := t.shown()
	rows := t.rows
	if !t.noHeader {
		h := make([]string, len(cols))
		for i, c := range cols {
			h[i] = c.name
		}
		rows = append([][]string{h}, rows...)
	}
	widths := make([]int, len(cols))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	if t.width > 0 {
		fit(cols, widths, t.width-1)
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			c = cut(c, widths[i])
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(t.w, b.String())
	return err
}

// fit narrows the cut columns, a rune at a time from the widest, until
// the line (columns two spaces apart) is at most width, or every cut
// column is down to its header or 8 runes.
func fit(cols []column, widths []int, width int) {
	total := 2 * (len(widths) - 1)
	for _, w := range widths {
		total += w
	}
	for ; total > width; total-- {
		widest := -1
		for i, c := range cols {
			if c.cut && widths[i] > max(len(c.name), 8) && (widest < 0 || widths[i] > widths[widest]) {
				widest = i
			}
		}
		if widest < 0 {
			return
		}
		widths[widest]--
	}
}

// cut shortens s to n runes, the last one "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// row writes one table row.
func row(tw io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		io.WriteString(tw, cell(c))
	}
	io.WriteString(tw, "\n")
}

// cell formats a table cell: no tabs or newlines, "-" for empty.
func cell(v any) string {
	s := fmt.Sprint(v)
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

func writeJSON(w io.Writer, v any, indent bool) error {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	if indent {
		e.SetIndent("", "  ")
	}
	return e.Encode(v)
}

// writeYAML writes v as YAML: through its JSON form, so YAML shows the
// same fields in the same order, and payloads as nested documents.
func writeYAML(w io.Writer, v any) error {
	n, err := yamlNode(v)
	if err != nil {
		return err
	}
	e := yaml.NewEncoder(w)
	e.SetIndent(2)
	if err := e.Encode(n); err != nil {
		return err
	}
	return e.Close()
}

func yamlNode(v any) (*yaml.Node, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, err
	}
	blockStyle(&n)
	return &n, nil
}

// blockStyle drops the flow style and quoting that decoding JSON left, so
// the YAML reads as YAML (strings that need quotes keep them).
func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle | yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			n.Style |= yaml.FlowStyle // {} and [] stay short
		}
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// compactJSON returns b as one line.
func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// metaString formats metadata as k=v pairs, sorted.
func metaString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// nanos formats a duration in nanoseconds for a table.
func nanos(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d == 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// bytesSize formats a byte count.
func bytesSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// rate formats a per-second rate.
func rate(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "-"
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.1f", r)
}

func percent(r float64) string { return fmt.Sprintf("%.1f%%", r*100) }

// timeFormat is the one format of absolute times: RFC 3339 in UTC, to
// the millisecond.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// timestamp formats t in timeFormat ("-" for the zero time).
func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(timeFormat)
}

// age is how long ago t was, as kubectl shows ages: 45s, 5m30s, 45m,
// 3h20m, 36h, 2d5h, 400d, 3y ("-" for the zero time).
func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return humanDuration(now.Sub(t))
}

// humanDuration rounds d to the two units that matter.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	const day = 24 * time.Hour
	switch s := int64(d / time.Second); {
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", s)
	case d < 10*time.Minute:
		if s%60 == 0 {
			return fmt.Sprintf("%dm", s/60)
		}
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case d < 3*time.Hour:
		return fmt.Sprintf("%dm", s/60)
	case d < 8*time.Hour:
		if m := (s / 60) % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", s/3600, m)
		}
		return fmt.Sprintf("%dh", s/3600)
	case d < 2*day:
		return fmt.Sprintf("%dh", s/3600)
	case d < 8*day:
		if h := (s / 3600) % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", s/86400, h)
		}
		return fmt.Sprintf("%dd", s/86400)
	case d < 2*365*day:
		return fmt.Sprintf("%dd", s/86400)
	}
	return fmt.Sprintf("%dy", int64(d/(365*day)))
}

// when is an absolute time and its age: "2025-01-02T03:04:05.000Z (5m ago)".
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return timestamp(t) + " (" + age(t, now) + " ago)"
}

// ---- terminals ----

// isTerminal reports whether w is a terminal that understands cursor
// movement (TERM=dumb does not).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

// termWidth is w's width in columns, or def when unknown.
func termWidth(w any, def int) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	return def
}

// The few escape sequences BadBatch writes, and only to terminals.
const (
	escClearLine  = "\x1b[K"        // erase to the end of the line
	escClearBelow = "\x1b[J"        // erase to the end of the screen
	escHome       = "\x1b[H"        // cursor to the top left
	escClear      = "\x1b[H\x1b[2J" // clear the screen
	escHideCursor = "\x1b[?25l"
	escShowCursor = "\x1b[?25h"
)

// progress is a one-line progress bar on a terminal: the bar, percent,
// count, rate and time left when the total is known, count and rate when
// it is not. A nil *progress (what newProgress returns when w is not a
// terminal) does nothing, so plain output never gets escape codes.
// Methods are called from one goroutine.
type progress struct {
	w        io.Writer
	label    string
	unit     string
	total    int64 // 0: unknown
	cur      int64
	start    time.Time
	last     time.Time
	width    int
	finished bool
	// speed, when set, says how fast things go (instead of the rate of
	// the bar's unit).
	speed func(elapsed time.Duration) string
	// count, when set, says how far it got (instead of "cur/total unit").
	count func() string
}

func newProgress(w io.Writer, label, unit string, total int64) *progress {
	if !isTerminal(w) {
		return nil
	}
	now := time.Now()
	p := &progress{w: w, label: label, unit: unit, total: total, start: now, width: termWidth(w, 80)}
	p.render(now)
	return p
}

// set moves the bar to n, redrawing at most ten times a second.
func (p *progress) set(n int64) {
	if p == nil {
		return
	}
	p.cur = n
	if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond {
		p.render(now)
	}
}

// finish draws the final state and ends the line.
func (p *progress) finish() {
	if p == nil || p.finished {
		return
	}
	p.finished = true
	p.render(time.Now())
	io.WriteString(p.w, "\n")
}

func (p *progress) countOf() string {
	if p.count != nil {
		return p.count()
	}
	if p.total > 0 {
		return fmt.Sprintf("%d/%d %s", p.cur, p.total, p.unit)
	}
	return fmt.Sprintf("%d %s", p.cur, p.unit)
}

func (p *progress) speedOf(r float64, el time.Duration) string {
	if p.speed != nil {
		return p.speed(el)
	}
	return rate(r) + " " + p.unit + "/s"
}

func (p *progress) render(now time.Time) {
	p.last = now
	el := now.Sub(p.start)
	var r float64
	if el > 0 {
		r = float64(p.cur) / el.Seconds()
	}
	var tail string
	if p.total > 0 {
		frac := min(float64(p.cur)/float64(p.total), 1)
		left := "-"
		if r > 0 && p.cur < p.total {
			left = time.Duration(float64(p.total-p.cur) / r * float64(time.Second)).Round(time.Second).String()
		} else if p.cur >= p.total {
			left = "0s"
		}
		tail = fmt.Sprintf(" %3.0f%% %s  %s  ETA %s", frac*100, p.countOf(), p.speedOf(r, el), left)
		barWidth := p.width - len(p.label) - len(tail) - 4
		if barWidth > 50 {
			barWidth = 50
		}
		if barWidth >= 10 {
			done := int(frac * float64(barWidth))
			bar := strings.Repeat("=", done)
			if done < barWidth {
				bar += ">" + strings.Repeat(" ", barWidth-done-1)
			}
			tail = " [" + bar + "]" + tail
		}
	} else {
		tail = fmt.Sprintf(" %s  %s  %s", p.countOf(), p.speedOf(r, el), el.Round(time.Second))
	}
	line := p.label + tail
	if len(line) > p.width-1 {
		line = line[:max(p.width-1, 0)]
	}
	io.WriteString(p.w, "\r"+line+escClearLine)
}
