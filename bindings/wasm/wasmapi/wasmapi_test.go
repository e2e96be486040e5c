package wasmapi

import (
	"errors"
	"testing"

	"github.com/badbatch/badbatch/bindings/internal/bytering"
)

func TestLifecycle(t *testing.T) {
	before := Live()
	h, err := New(4, 2, "", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPoller(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := Start(h); err != nil {
		t.Fatal(err)
	}
	if _, err := PublishMany(h, []byte("abc"), []uint32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := PublishMany(h, nil, nil); !errors.Is(err, bytering.ErrClaim) {
		t.Errorf("empty batch: %v", err)
	}
	for range 2 {
		if _, err := Publish(h, []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Publish(h, []byte("e")); !errors.Is(err, bytering.ErrFull) {
		t.Errorf("publish into a full ring: %v, want ErrFull (nothing may wait)", err)
	}
	out, lens := make([]byte, 8), make([]uint32, 4)
	if first, n, err := Poll(p, out, lens); first != 0 || n != 4 || err != nil || string(out[:1]) != "a" || string(out[2:4]) != "bc" {
		t.Errorf("poll: %d %d %v %q", first, n, err, out)
	}
	if err := Shutdown(h); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Poll(p, out, lens); !errors.Is(err, bytering.ErrShutdown) {
		t.Errorf("poll after shutdown: %v", err)
	}
	if err := Free(h); err != nil {
		t.Fatal(err)
	}
	if Live() != before {
		t.Errorf("%d handles left after Free", Live()-before)
	}
	for _, err := range []error{Start(h), Free(h), PollerFree(p), second(Publish(h, nil)), second(NewPoller(h))} {
		if !errors.Is(err, bytering.ErrHandle) {
			t.Errorf("after Free: %v, want ErrHandle", err)
		}
	}
}

func second[T any](_ T, err error) error { return err }
