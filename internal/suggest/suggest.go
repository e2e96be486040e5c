// Package suggest finds the known word closest to a mistyped one, for the
// "did you mean" hints of configuration keys and spec files.
package suggest

import (
	"fmt"
	"iter"
)

// Hint is ` (did you mean "CANDIDATE"?)` for the candidate nearest to
// word, when its edit distance is below limit, else "". Of candidates
// equally near, the first seen wins.
func Hint(word string, candidates iter.Seq[string], limit int) string {
	best, bestDist := "", limit
	for c := range candidates {
		if d := Distance(word, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Distance is the Levenshtein distance of a and b, by bytes: the fewest
// insertions, deletions and substitutions that turn one into the other.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
