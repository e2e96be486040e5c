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

	"go.yaml.in/yaml/v3"
	"golang.org/x/term"
)

// Output. Every command that prints a result prints it in the --output
// format: "table" (aligned columns for people), "json" (indented) or
// "yaml". JSON and YAML show the API's own objects, field for field.

// emit writes v in the global output format, or calls table for "table".
func (g *globals) emit(w io.Writer, v any, table func(*tabwriter.Writer)) error {
	switch g.output {
	case "json":
		return writeJSON(w, v, true)
	case "yaml":
		return writeYAML(w, v)
	}
	tw := newTable(w)
	table(tw)
	return tw.Flush()
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

func timestamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
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
		tail = fmt.Sprintf(" %3.0f%% %d/%d %s  %s  ETA %s", frac*100, p.cur, p.total, p.unit, p.speedOf(r, el), left)
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
		tail = fmt.Sprintf(" %d %s  %s  %s", p.cur, p.unit, p.speedOf(r, el), el.Round(time.Second))
	}
	line := p.label + tail
	if len(line) > p.width-1 {
		line = line[:max(p.width-1, 0)]
	}
	io.WriteString(p.w, "\r"+line+escClearLine)
}
