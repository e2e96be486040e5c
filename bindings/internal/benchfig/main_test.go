package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// runs makes `go test -bench` lines: one per value, for name.
func runs(name string, eps ...float64) string {
	var b strings.Builder
	for _, v := range eps {
		fmt.Fprintf(&b, "Benchmark%s-2 \t 1000000\t %.2f ns/op\t %.0f events/s\t 64.00 events/wakeup\t 0.5000 other-cpu-%%\n", name, 1e9/v, v)
	}
	return b.String()
}

const header = "goos: linux\ngoarch: amd64\npkg: x\ncpu: Test CPU @ 1GHz\n"

func TestVerdict(t *testing.T) {
	py := header +
		runs("Python/batch=64/simplequeue", 5e6, 6e6, 7e6, 6e6, 6e6, 6e6) +
		runs("Python/batch=64/view-poller", 19e6, 20e6, 21e6, 20e6, 20e6, 20e6) +
		runs("Python/batch=64/disruptor-callback", 4e6, 4e6, 4e6, 4e6, 4e6, 4e6) +
		"PASS\n"
	c := header +
		runs("CAPI/claim/batch=64", 80e6, 80e6, 80e6) + runs("Go/claim/batch=64", 200e6, 200e6, 200e6)
	var in inputs
	in.py, in.cpu = parse(strings.NewReader(py))
	in.c, _ = parse(strings.NewReader(c))
	var out bytes.Buffer
	render(&out, &in)
	got := out.String()
	for _, want := range []string{
		"Test CPU @ 1GHz",
		"| 64 | view-poller | **20M** |",
		"3.33×",                                       // 20M against 6M
		"**met on the medians**",                      // 19M/7M = 2.71 < 3 at the ends
		"`disruptor-callback` is 0.67×",               // 4M/6M
		"| claim | 64 | 12.5 | 5 | 7.5 ns | 480 ns |", // 1e9/80e6 − 1e9/200e6, ×64
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "busy machine**") {
		t.Errorf("quiet runs (0.5%%) called busy:\n%s", got)
	}
	in.py, _ = parse(strings.NewReader(strings.ReplaceAll(py, "0.5000 other-cpu-%", "20 other-cpu-%")))
	out.Reset()
	render(&out, &in)
	got = out.String()
	for _, want := range []string{
		"**From a busy machine**: other processes used a median of up to 20%",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func TestSplice(t *testing.T) {
	doc := []byte("a\n" + beginMarker + "\nold\n" + endMarker + "\nb\n")
	got, err := splice(doc, []byte(beginMarker+"\nnew\n"+endMarker+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n" + beginMarker + "\nnew\n" + endMarker + "\nb\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := splice([]byte("no markers"), nil); err == nil {
		t.Error("splice without markers: no error")
	}
}
