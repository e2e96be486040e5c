// Package errwalk finds errors of one type in an error tree: the leaves of
// errors.Join and fmt.Errorf("%w") chains that validation code returns.
package errwalk

import "errors"

// All returns every error of type T in err's tree, depth first, without
// descending into a match.
func All[T error](err error) []T {
	var out []T
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if t, ok := e.(T); ok {
			out = append(out, t)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		default:
			walk(errors.Unwrap(e))
		}
	}
	walk(err)
	return out
}
