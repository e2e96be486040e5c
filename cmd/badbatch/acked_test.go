package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// readIDs reads every event of the disruptor name on p, in sequence
// order, as the "id" field of its payload, failing the test on a gap.
func readIDs(t *testing.T, p *serverProcess, name string) []string {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	var ids []string
	for from := int64(0); ; {
		var page struct {
			Events []struct {
				Sequence int64 `json:"sequence"`
				Payload  struct {
					ID string `json:"id"`
				} `json:"payload"`
			} `json:"events"`
			Next int64 `json:"next_sequence"`
		}
		res, err := hc.Get(fmt.Sprintf("http://%s/api/v1/disruptors/%s/events?from=%d&limit=5000", p.api, name, from))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatalf("%s: replay: %v %s", p.id, err, b)
		}
		for _, e := range page.Events {
			if e.Sequence != int64(len(ids)) {
				t.Fatalf("%s: sequence %d at position %d", p.id, e.Sequence, len(ids))
			}
			ids = append(ids, e.Payload.ID)
		}
		if len(page.Events) == 0 {
			return ids
		}
		from = page.Next
	}
}

// verifyAcked waits until p holds as many events of name as were
// acknowledged (followers apply committed entries shortly after the
// leader), then checks that each acknowledged event (payload id
// "KEY.i") is there exactly once, at the sequence its acknowledgement
// gave, and that no event is there twice. It returns p's ids.
func verifyAcked(t *testing.T, p *serverProcess, name string, acked []ackedBatch) []string {
	t.Helper()
	want := 0
	for _, b := range acked {
		want += b.Count
	}
	var ids []string
	poll(t, 60*time.Second, p.id+" to hold every acknowledged event", func() bool {
		ids = readIDs(t, p, name)
		return len(ids) >= want
	})
	seen := map[string]int{}
	for _, id := range ids {
		seen[id]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s: event %s present %d times", p.id, id, n)
		}
	}
	missing, moved := 0, 0
	for _, b := range acked {
		for i := range b.Count {
			id := fmt.Sprintf("%s.%d", b.Key, i)
			switch seq := b.First + int64(i); {
			case seen[id] == 0:
				missing++
			case seq >= int64(len(ids)) || ids[seq] != id:
				moved++
			}
		}
	}
	if missing > 0 || moved > 0 {
		t.Errorf("%s: of %d acknowledged events, %d missing and %d not at their acknowledged sequence", p.id, want, missing, moved)
	}
	return ids
}
