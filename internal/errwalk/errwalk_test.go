package errwalk

import (
	"errors"
	"fmt"
	"testing"
)

type fieldErr struct{ field string }

func (e *fieldErr) Error() string { return e.field }

func TestAll(t *testing.T) {
	a, b, c := &fieldErr{"a"}, &fieldErr{"b"}, &fieldErr{"c"}
	err := fmt.Errorf("invalid: %w", errors.Join(a, errors.New("other"), fmt.Errorf("wrapped: %w", errors.Join(b, c))))
	got := All[*fieldErr](err)
	if len(got) != 3 || got[0] != a || got[1] != b || got[2] != c {
		t.Fatalf("All = %v, want [a b c]", got)
	}
	if All[*fieldErr](nil) != nil || All[*fieldErr](errors.New("x")) != nil {
		t.Fatal("found fieldErrs where there are none")
	}
}
