package journal

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary, re-executed by a test, run a child
// process's part instead of the tests (see TestMain).
const childEnv = "JOURNAL_TEST_CHILD"

// runChild runs the child named by mode and returns its exit code.
func runChild(mode string) int {
	var err error
	switch mode {
	case "writer":
		err = childWriter(os.Getenv("JOURNAL_TEST_DIR"), os.Getenv("JOURNAL_TEST_SYNC"))
	case "lock":
		_, err = OpenDir(os.Getenv("JOURNAL_TEST_DIR"), DirOptions{})
		if err == nil {
			err = errors.New("the second process opened a locked data directory")
		}
		fmt.Println(err)
		if errors.Is(err, ErrLocked) {
			return 3
		}
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// crashPayload is the content of event seq, so that the parent can check
// what it recovers without being told.
func crashPayload(seq int64) []byte {
	return fmt.Appendf(nil, `{"seq":%d,"fill":"%s"}`, seq, strings.Repeat("z", int(seq%97)))
}

func crashKey(first int64) string { return "key-" + strconv.FormatInt(first, 10) }

// childWriter appends batches of 1 to 100 events until it is killed,
// printing "first last" once each Append has returned: an acknowledgement.
func childWriter(dir, mode string) error {
	sync, err := ParseSyncMode(mode)
	if err != nil {
		return err
	}
	d, err := OpenDir(dir, DirOptions{})
	if err != nil {
		return err
	}
	o := DefaultOptions()
	o.Sync = sync
	o.SegmentBytes = 256 << 10 // several segments per run
	j, err := d.Open("crash", o)
	if errors.Is(err, ErrNotFound) {
		j, err = d.Create("crash", 0, nil, o)
	}
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for {
		first := j.Next()
		n := 1
		if rng.IntN(2) == 0 {
			n = 1 + rng.IntN(100)
		}
		b := Batch{First: first}
		if rng.IntN(3) == 0 {
			b.Key, b.Hash = crashKey(first), uint64(first)
		}
		for i := range n {
			b.Events = append(b.Events, Event{Payload: crashPayload(first + int64(i))})
		}
		if err := j.Append(b); err != nil {
			return err
		}
		fmt.Fprintf(out, "%d %d %t\n", first, b.Last(), b.Key != "")
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

// ack is one acknowledged batch, as the child reported it.
type ack struct {
	first, last int64
	keyed       bool
}

// TestCrashKill9 runs a writer in a child process, kills it with SIGKILL
// in the middle of its append loop, and checks that every append it
// acknowledged (printed after Append returned) is recovered, whole and
// once, at its sequence; then does it again on the same directory. Each
// sync mode must keep everything acknowledged through a crash of the
// process: the page cache survives it.
func TestCrashKill9(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"always", "interval", "never"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			var acks []ack
			total, cut := 0, 0
			for round := range rounds {
				got := runAndKill(t, exe, dir, mode, time.Duration(50+round*25)*time.Millisecond)
				if len(got) == 0 {
					t.Fatalf("round %d: the writer acknowledged nothing", round)
				}
				acks = append(acks, got...)
				total += len(got)
				cut += checkRecovered(t, dir, acks)
			}
			t.Logf("%d rounds, %d acknowledged batches, last sequence %d, %d torn tails cut", rounds, total, acks[len(acks)-1].last, cut)
		})
	}
}

// runAndKill starts the writer, lets it acknowledge appends for about
// run, kills it with SIGKILL and returns what it acknowledged.
func runAndKill(t *testing.T, exe, dir, mode string, run time.Duration) []ack {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=writer", "JOURNAL_TEST_DIR="+dir, "JOURNAL_TEST_SYNC="+mode)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var acks []ack
	var killAt <-chan time.Time
	deadline := time.After(60 * time.Second)
	for killed := false; ; {
		select {
		case line, ok := <-lines:
			if !ok {
				err := cmd.Wait()
				if !killed {
					t.Fatalf("the writer stopped by itself: %v\n%s", err, stderr.String())
				}
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("the writer ended with %v, want SIGKILL\n%s", err, stderr.String())
				}
				return acks
			}
			var a ack
			if _, err := fmt.Sscanf(line, "%d %d %t", &a.first, &a.last, &a.keyed); err != nil {
				continue // a line cut by the kill was never an acknowledgement
			}
			acks = append(acks, a)
			if killAt == nil {
				killAt = time.After(run)
			}
		case <-killAt:
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed, killAt = true, nil
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("the writer did not acknowledge and die in time\n%s", stderr.String())
		}
	}
}

// checkRecovered opens the directory the killed writer left and checks
// every acknowledged batch: present, at its sequence, whole, once. It
// returns the number of torn tails the open cut off.
func checkRecovered(t *testing.T, dir string, acks []ack) int {
	t.Helper()
	d, err := OpenDir(dir, DirOptions{}) // the kernel released the dead writer's lock
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	j, err := d.Open("crash", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	last := acks[len(acks)-1].last
	if j.Latest() < last {
		t.Fatalf("recovered up to %d, but %d was acknowledged", j.Latest(), last)
	}
	r, err := j.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	next := int64(0)
	i := 0
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.First != next {
			t.Fatalf("batch at %d, want %d: a hole or a repeat", b.First, next)
		}
		for k, e := range b.Events {
			if want := crashPayload(b.First + int64(k)); string(e.Payload) != string(want) {
				t.Fatalf("event %d holds %q, want %q", b.First+int64(k), e.Payload, want)
			}
		}
		for i < len(acks) && acks[i].last < b.First {
			i++
		}
		if i < len(acks) && acks[i].first == b.First {
			a := acks[i]
			if a.last != b.Last() || a.keyed != (b.Key != "") || (a.keyed && b.Key != crashKey(a.first)) {
				t.Fatalf("acknowledged batch %d..%d keyed %t recovered as %d..%d key %q", a.first, a.last, a.keyed, b.First, b.Last(), b.Key)
			}
		}
		next = b.Last() + 1
	}
	if next-1 != j.Latest() {
		t.Fatalf("read up to %d, Latest %d", next-1, j.Latest())
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return len(j.Recovery().Truncated)
}

// TestDirLockOtherProcess checks that a second process is refused the
// data directory, with a message naming the lock file.
func TestDirLockOtherProcess(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=lock", "JOURNAL_TEST_DIR="+dir)
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("the second process: %v, output %q; want it refused with ErrLocked", err, out)
	}
	if msg := string(out); !strings.Contains(msg, dir+"/LOCK") || !strings.Contains(msg, strconv.Itoa(os.Getpid())) {
		t.Fatalf("the refusal does not name the lock file and its holder: %q", msg)
	}
}
