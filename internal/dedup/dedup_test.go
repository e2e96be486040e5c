package dedup

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestWindow(t *testing.T) {
	w := New(time.Minute, 2)
	min := int64(time.Minute)
	if full, _ := w.Full(0, 0); full {
		t.Fatal("an empty window is full")
	}
	w.Add(&Entry{Key: "a", Hash: 1, Count: 1, First: 7, At: 0})
	if e := w.Lookup("a", min-1); e == nil || e.First != 7 {
		t.Fatalf("a inside the span: %+v", e)
	}
	if full, _ := w.Full(10, 1); !full {
		t.Fatal("one key and one reserved in a window of 2 is not full")
	}
	w.Add(&Entry{Key: "b", At: 10})
	full, retry := w.Full(20, 0)
	if !full || retry != min {
		t.Fatalf("full window: %v, retry at %d, want %d", full, retry, min)
	}
	if e := w.Lookup("a", min); e != nil {
		t.Fatalf("a at the end of its span: %+v", e)
	}
	if full, _ := w.Full(min, 0); full || w.Len() != 1 {
		t.Fatalf("after a expired: full %v, %d keys", full, w.Len())
	}
	// A time that goes back is raised to the latest: keys expire in the
	// order they came.
	w.Add(&Entry{Key: "c", At: 5})
	if got := w.Entries(); len(got) != 2 || got[1].Key != "c" || got[1].At != 10 {
		t.Fatalf("entries %+v", got)
	}
	// Every place reserved.
	z := New(time.Second, 1)
	if full, retry := z.Full(100, 1); !full || retry != 100+int64(time.Second) {
		t.Fatalf("all reserved: %v %d", full, retry)
	}
}

// TestWindowModel checks the window against a map of key → time: a key
// is found exactly while it is younger than the span, the window says
// full exactly when max keys are that young, and it compacts.
func TestWindowModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		span := rapid.Int64Range(1, 50).Draw(t, "span")
		max := rapid.IntRange(1, 8).Draw(t, "max")
		w := New(time.Duration(span), max)
		model := map[string]int64{}
		now := int64(0)
		live := func() int {
			n := 0
			for _, at := range model {
				if now < at+span {
					n++
				}
			}
			return n
		}
		for i := range rapid.IntRange(1, 300).Draw(t, "steps") {
			now += rapid.Int64Range(0, 10).Draw(t, "dt")
			key := fmt.Sprint(rapid.IntRange(0, 12).Draw(t, "key"))
			at, known := model[key]
			known = known && now < at+span
			e := w.Lookup(key, now)
			if (e != nil) != known {
				t.Fatalf("step %d: key %s found %v, model %v (at %d, now %d, span %d)", i, key, e != nil, known, at, now, span)
			}
			if known {
				continue
			}
			full, _ := w.Full(now, 0)
			if full != (live() >= max) {
				t.Fatalf("step %d: full %v with %d live keys of %d", i, full, live(), max)
			}
			if !full {
				w.Add(&Entry{Key: key, At: now})
				model[key] = now
			}
		}
		if len(w.fifo)-w.head != w.Len() || w.Len() > max {
			t.Fatalf("fifo %d, keys %d, max %d", len(w.fifo)-w.head, w.Len(), max)
		}
	})
}
