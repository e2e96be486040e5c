package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// The terminal tests run the binary on a pseudo-terminal, as a person
// would, and replay what it wrote through screen, a small terminal
// emulator that knows only the sequences badbatch means to write: any
// other control byte or escape sequence is garbage and fails the test.

// screen is a terminal's character grid.
type screen struct {
	w, h  int
	cells [][]rune
	row   int
	col   int
	// cursorHidden tracks ESC[?25l / ESC[?25h.
	cursorHidden bool
}

func newScreen(w, h int) *screen {
	s := &screen{w: w, h: h}
	s.cells = make([][]rune, h)
	for i := range s.cells {
		s.cells[i] = blank(w)
	}
	return s
}

func blank(w int) []rune {
	r := make([]rune, w)
	for i := range r {
		r[i] = ' '
	}
	return r
}

func (s *screen) newline() {
	if s.row++; s.row == s.h {
		copy(s.cells, s.cells[1:])
		s.cells[s.h-1] = blank(s.w)
		s.row = s.h - 1
	}
}

// feed plays out, failing on anything it does not know.
func (s *screen) feed(out string) error {
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; {
		case c == '\r':
			s.col = 0
		case c == '\n':
			s.newline()
		case c == '\x1b':
			if i+1 >= len(rs) || rs[i+1] != '[' {
				return fmt.Errorf("a lone ESC at %d: %q", i, around(rs, i))
			}
			j := i + 2
			for j < len(rs) && (rs[j] == '?' || rs[j] == ';' || (rs[j] >= '0' && rs[j] <= '9')) {
				j++
			}
			if j == len(rs) {
				return fmt.Errorf("an unfinished escape sequence: %q", around(rs, i))
			}
			params, final := string(rs[i+2:j]), rs[j]
			if err := s.csi(params, final); err != nil {
				return fmt.Errorf("%w in %q", err, around(rs, i))
			}
			i = j
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("control byte %#x at %d: %q", c, i, around(rs, i))
		default:
			if s.col == s.w { // autowrap
				s.col = 0
				s.newline()
			}
			s.cells[s.row][s.col] = c
			s.col++
		}
	}
	return nil
}

func around(rs []rune, i int) string {
	return string(rs[max(i-30, 0):min(i+30, len(rs))])
}

// csi runs one control sequence.
func (s *screen) csi(params string, final rune) error {
	switch {
	case final == 'K' && (params == "" || params == "0"):
		for c := s.col; c < s.w; c++ {
			s.cells[s.row][c] = ' '
		}
	case final == 'J' && (params == "" || params == "0"):
		for c := s.col; c < s.w; c++ {
			s.cells[s.row][c] = ' '
		}
		for r := s.row + 1; r < s.h; r++ {
			s.cells[r] = blank(s.w)
		}
	case final == 'J' && params == "2":
		for r := range s.cells {
			s.cells[r] = blank(s.w)
		}
	case final == 'H' && params == "":
		s.row, s.col = 0, 0
	case final == 'l' && params == "?25":
		s.cursorHidden = true
	case final == 'h' && params == "?25":
		s.cursorHidden = false
	default:
		return fmt.Errorf("unexpected escape sequence ESC[%s%c", params, final)
	}
	return nil
}

// lines returns the screen's lines, trailing blanks trimmed, and no
// trailing empty lines.
func (s *screen) lines() []string {
	var out []string
	for _, r := range s.cells {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// ptyRun is one run of the binary on a pseudo-terminal.
type ptyRun struct {
	out  *syncBuffer
	tty  *os.File
	cmd  *exec.Cmd
	done chan error
}

const ptyCols, ptyRows = 150, 40

func startPTY(t *testing.T, env []string, args ...string) *ptyRun {
	t.Helper()
	cmd := exec.Command(badbatchBin, args...)
	cmd.Env = append(baseEnv(), append([]string{"TERM=xterm"}, env...)...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: ptyCols, Rows: ptyRows})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	p := &ptyRun{out: &syncBuffer{}, tty: tty, cmd: cmd, done: make(chan error, 1)}
	var copied sync.WaitGroup
	copied.Go(func() { _, _ = io.Copy(p.out, tty) }) // ends with EIO when the process is gone
	go func() {
		err := cmd.Wait()
		copied.Wait()
		p.done <- err
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		tty.Close()
	})
	return p
}

// waitFor waits until the output contains s.
func (p *ptyRun) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %q", s, p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the exit and returns the exit code and the screen.
func (p *ptyRun) wait(t *testing.T) (int, *screen) {
	t.Helper()
	var err error
	select {
	case err = <-p.done:
		p.done <- err // for the cleanup
	case <-time.After(60 * time.Second):
		t.Fatalf("still running; output so far %q", p.out)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	s := newScreen(ptyCols, ptyRows)
	if err := s.feed(p.out.String()); err != nil {
		t.Fatalf("garbage on the terminal: %v", err)
	}
	return code, s
}

func TestTerminalMonitorWatch(t *testing.T) {
	srv := sharedServer(t)
	createDisruptor(t, "cli-pty-watch", "--size", "64")
	bb(t, "event", "batch", "cli-pty-watch", "[1,2,3]")
	p := startPTY(t, []string{envEndpoint + "=" + srv.url}, "monitor", "watch", "--count", "3", "--interval", "150ms", "cli-pty-watch")
	code, s := p.wait(t)
	lines := s.lines()
	if code != 0 || len(lines) < 4 {
		t.Fatalf("exit %d, screen:\n%s", code, strings.Join(lines, "\n"))
	}
	raw := p.out.String()
	if n := strings.Count(raw, escHome); n < 3 {
		t.Errorf("%d redraws, want 3", n)
	}
	if s.cursorHidden {
		t.Error("the cursor was left hidden")
	}
	// One frame on the screen, drawn in place: the header, the system line,
	// the table.
	screen := strings.Join(lines, "\n")
	if !strings.HasPrefix(lines[0], "badbatch monitor  "+srv.url) || strings.Count(screen, "badbatch monitor") != 1 ||
		!strings.HasPrefix(lines[1], "uptime ") {
		t.Errorf("the screen:\n%s", screen)
	}
	t.Logf("the screen after monitor watch:\n%s", screen)
	rows := checkTable(t, strings.Join(lines[3:], "\n"), "DISRUPTOR", "STATE", "PUBLISHED", "EVENTS/S", "P50", "P99", "FILL", "LAG")
	if len(rows) != 1 || rows[0]["DISRUPTOR"] != "cli-pty-watch" || rows[0]["PUBLISHED"] != "3" {
		t.Errorf("the table: %v\n%s", rows, screen)
	}
}

func TestTerminalProgressBar(t *testing.T) {
	srv := sharedServer(t)
	env := []string{envEndpoint + "=" + srv.url}
	createDisruptor(t, "cli-pty-file", "--size", "4096")
	var nd strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&nd, "{\"n\":%d,\"pad\":\"%s\"}\n", i, strings.Repeat("x", 64))
	}
	file := writeFile(t, "big.ndjson", nd.String())
	p := startPTY(t, env, "event", "publish-file", "cli-pty-file", file, "--batch-size", "20")
	code, s := p.wait(t)
	lines := s.lines()
	screen := strings.Join(lines, "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("exit %d, screen:\n%s", code, screen)
	}
	// The bar redrew in place, and ends full, above the summary.
	mib := fmt.Sprintf("%.1f", float64(nd.Len())/(1<<20))
	if !strings.HasPrefix(lines[0], "publishing cli-pty-file [") || !strings.Contains(lines[0], "] 100% 3000 events  "+mib+"/"+mib+" MiB  ") ||
		!strings.Contains(lines[0], " events/s  ") || !strings.Contains(lines[0], " MiB/s  ETA 0s") ||
		strings.Contains(lines[0], " >") || strings.Count(screen, "publishing") != 1 {
		t.Errorf("the progress bar:\n%s", screen)
	}
	t.Logf("the screen after publish-file:\n%s", screen)
	if strings.Count(p.out.String(), "\r") < 2 {
		t.Errorf("the bar was drawn once only: %q", p.out)
	}
	rows := checkTable(t, strings.Join(lines[1:], "\n"), "DISRUPTOR", "EVENTS", "BATCHES")
	if rows[0]["EVENTS"] != "3000" || rows[0]["BATCHES"] != "150" {
		t.Errorf("the summary: %v", rows)
	}

	// The bench's bar, against an embedded server.
	p = startPTY(t, nil, "bench", "--embedded", "--duration", "600ms", "-c", "2", "-b", "10")
	code, s = p.wait(t)
	lines = s.lines()
	t.Logf("the screen after bench:\n%s", strings.Join(lines, "\n"))
	if code != 0 || !strings.HasPrefix(lines[0], "benchmarking bench [") || !strings.Contains(lines[0], "] 100% 600/600 ms  ") ||
		!strings.Contains(lines[0], " events/s  ETA 0s") ||
		!strings.HasPrefix(lines[1], "ENDPOINT") {
		t.Errorf("bench on a terminal: exit %d\n%s", code, strings.Join(lines, "\n"))
	}

	// Without a terminal: no bar, no escape codes.
	r := cliRun{env: env}.run(t, "event", "publish-file", "cli-pty-file", file, "--batch-size", "500")
	noEscapes(t, "publish-file", r.stdout+r.stderr)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("publish-file without a terminal: %v", r)
	}
}

// TestTerminalDeleteConfirmation: on a terminal, delete asks.
func TestTerminalDeleteConfirmation(t *testing.T) {
	srv := sharedServer(t)
	env := []string{envEndpoint + "=" + srv.url}
	createDisruptor(t, "cli-pty-del")
	for _, tc := range []struct {
		answer string
		code   int
	}{{"n", exitDeclined}, {"", exitDeclined}, {"y", 0}} {
		p := startPTY(t, env, "disruptor", "delete", "cli-pty-del")
		p.waitFor(t, "[y/N] ")
		if _, err := p.tty.Write([]byte(tc.answer + "\r")); err != nil {
			t.Fatal(err)
		}
		code, s := p.wait(t)
		lines := s.lines()
		prompt := strings.TrimSpace(`Delete disruptor "cli-pty-del" (running, 0 events published)? Its events are lost. [y/N] ` + tc.answer)
		if code != tc.code || lines[0] != prompt {
			t.Errorf("answer %q: exit %d\n%s", tc.answer, code, strings.Join(lines, "\n"))
		}
		want := "badbatch: not deleted: cli-pty-del (declined)"
		if tc.code == 0 {
			want = "deleted cli-pty-del"
		}
		if lines[len(lines)-1] != want {
			t.Errorf("answer %q: last line %q, want %q", tc.answer, lines[len(lines)-1], want)
		}
	}
}

// TestScreen checks the emulator itself: what it draws, and that it
// refuses what badbatch never writes.
func TestScreen(t *testing.T) {
	s := newScreen(10, 3)
	if err := s.feed("hello\rHE" + escClearLine + "\r\nx" + escClear + "ab" + escHideCursor + escShowCursor); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.lines(), "|"); got != "ab" {
		t.Errorf("screen %q", got)
	}
	s = newScreen(10, 3)
	_ = s.feed("hello\rHE" + escClearLine)
	if got := strings.Join(s.lines(), "|"); got != "HE" {
		t.Errorf("screen %q", got)
	}
	for _, bad := range []string{"\x1b[31mred", "\x1b]0;title\x07", "\a", "\b", "a\x1b"} {
		if err := newScreen(10, 3).feed(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
