package suggest

import (
	"fmt"
	"slices"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"buffer_size", "buffer_size", 0},
		{"bufer_size", "buffer_size", 1}, {"lsit", "list", 2}, {"kitten", "sitting", 3},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestHint(t *testing.T) {
	keys := slices.Values([]string{"name", "buffer_size", "producer_type"})
	for _, tc := range []struct {
		word  string
		limit int
		want  string
	}{
		{"bufer_size", 3, ` (did you mean "buffer_size"?)`},
		{"nmae", 3, ` (did you mean "name"?)`},
		{"colour", 3, ""},
		{"bufer_size", 1, ""},
	} {
		if got := Hint(tc.word, keys, tc.limit); got != tc.want {
			t.Errorf("Hint(%q, %d) = %q, want %q", tc.word, tc.limit, got, tc.want)
		}
	}
}

func ExampleHint() {
	fmt.Println("unknown key bufer_size" + Hint("bufer_size", slices.Values([]string{"name", "buffer_size"}), 3))
	// Output: unknown key bufer_size (did you mean "buffer_size"?)
}
