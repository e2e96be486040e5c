package cluster

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMetaRoundTrip(t *testing.T) {
	tests := []Meta{
		{},
		{APIAddr: "10.0.0.1:8080", APIScheme: "https", Version: "v1.2.3", State: NodeReady,
			StartedAt:  time.UnixMilli(1_700_000_000_123),
			Disruptors: []string{"orders-eu-2", "orders-eu-1", "payments", "orders-eu-1"},
			Tags:       map[string]string{"raft_addr": "10.0.0.1:7947", "zone": "a"}},
		{APIAddr: "[fd00::1]:8080", APIScheme: "http", State: NodeLeaving},
	}
	for i, m := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b, err := EncodeMeta(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeMeta(b)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := m.normalize()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetaIsCompact(t *testing.T) {
	m := Meta{APIAddr: "10.0.0.1:8080", Version: "v1.0.0", State: NodeReady, StartedAt: time.Now()}
	for i := range 100 {
		m.Disruptors = append(m.Disruptors, fmt.Sprintf("orders-eu-%03d", i))
	}
	b, err := EncodeMeta(m)
	if err != nil {
		t.Fatalf("100 similar names do not fit: %v", err)
	}
	t.Logf("100 names like orders-eu-000: %d bytes of %d", len(b), MetaMaxSize)
	if hosts := (&m).Hosts; hosts("orders-eu-042") {
		t.Log("Hosts on an unsorted Meta is not defined; use a decoded one")
	}
	got, _ := DecodeMeta(b)
	if !got.Hosts("orders-eu-042") || got.Hosts("orders-eu-100") {
		t.Error("Hosts is wrong on a decoded Meta")
	}
}

func TestMetaTooLarge(t *testing.T) {
	var m Meta
	for i := range 60 {
		m.Disruptors = append(m.Disruptors, fmt.Sprintf("%02d-%s", i, strings.Repeat("x", 10)))
	}
	_, err := EncodeMeta(m)
	var se *MetaSizeError
	if !errors.Is(err, ErrMetaTooLarge) || !errors.As(err, &se) {
		t.Fatalf("EncodeMeta = %v, want a MetaSizeError", err)
	}
	if se.Size <= MetaMaxSize || se.Limit != MetaMaxSize || se.Disruptors != 60 {
		t.Errorf("MetaSizeError = %+v", se)
	}
	if !strings.Contains(err.Error(), "over memberlist's limit of 512") {
		t.Errorf("message %q does not explain", err)
	}
}

func TestMetaRejectsInvalid(t *testing.T) {
	for _, m := range []Meta{
		{Disruptors: []string{"ok", "not/ok"}},
		{Disruptors: []string{""}},
		{APIScheme: "ftp"},
	} {
		if _, err := EncodeMeta(m); !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("EncodeMeta(%+v) = %v, want ErrInvalidMeta", m, err)
		}
	}
}

func TestDecodeMeta(t *testing.T) {
	valid, _ := EncodeMeta(Meta{APIAddr: "a:1", Disruptors: []string{"x", "y"}})
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"valid", valid, true},
		{"unknown field skipped", append(append([]byte{}, valid...), 99, 3, 'a', 'b', 'c'), true},
		{"unknown version", []byte{2, 1, 1, 'a'}, false},
		{"truncated field", valid[:len(valid)-1], false},
		{"length beyond end", []byte{1, tagAPIAddr, 10, 'a'}, false},
		{"bad varint", []byte{1, tagAPIAddr, 0xff}, false},
		{"huge count", []byte{1, tagDisruptors, 3, 0xff, 0xff, 0x03}, false},
		{"prefix longer than previous", []byte{1, tagDisruptors, 4, 1, 5, 0, 0}, false},
		{"unsorted names", []byte{1, tagDisruptors, 7, 2, 0, 1, 'b', 0, 1, 'a'}, false},
		{"trailing bytes in a field", []byte{1, tagState, 2, 2, 0}, false},
		{"too long", make([]byte, MetaMaxSize+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeMeta(tt.in)
			if tt.ok && err != nil {
				t.Errorf("DecodeMeta = %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidMeta) {
				t.Errorf("DecodeMeta = %v, want ErrInvalidMeta", err)
			}
		})
	}
}

func TestStateText(t *testing.T) {
	for s := StateAlive; s <= StateLeft; s++ {
		b, _ := s.MarshalText()
		var got MemberState
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("MemberState %v: round trip %v, %v", s, got, err)
		}
	}
	for s := NodeStarting; s <= NodeLeaving; s++ {
		b, _ := s.MarshalText()
		var got NodeState
		if err := got.UnmarshalText(b); err != nil || got != s {
			t.Errorf("NodeState %v: round trip %v, %v", s, got, err)
		}
	}
	if MemberState(0).String() != "unknown" || NodeState(9).String() != "unknown" {
		t.Error("unknown states are not named unknown")
	}
}

// FuzzDecodeMeta checks that DecodeMeta never panics and that whatever it
// accepts, and EncodeMeta can encode, decodes back the same.
func FuzzDecodeMeta(f *testing.F) {
	for _, m := range []Meta{
		{},
		{APIAddr: "10.0.0.1:8080", APIScheme: "https", Version: "v1", State: NodeReady,
			StartedAt: time.UnixMilli(1_700_000_000_000), Disruptors: []string{"a", "ab", "b"},
			Tags: map[string]string{"k": "v"}},
	} {
		b, err := EncodeMeta(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMeta(b)
		if err != nil {
			return
		}
		again, err := EncodeMeta(m)
		if err != nil {
			return // e.g. names the encoder refuses
		}
		m2, err := DecodeMeta(again)
		if err != nil {
			t.Fatalf("re-encoded metadata does not decode: %v", err)
		}
		norm, _ := m.normalize()
		if diff := cmp.Diff(norm, m2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
