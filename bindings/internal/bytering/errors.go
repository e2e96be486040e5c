package bytering

import (
	"errors"
	"fmt"
)

// Code is a stable error number of the bindings: the value every C call
// returns, the code of a Python BadBatchError, the result of a wasm export.
// Codes are never renumbered; new ones are added at the end.
type Code int32

// The codes. bindings/c/badbatch.h repeats them as BB_* (a test keeps the
// two identical), and so does the Python package.
const (
	CodeOK         Code = iota // success
	CodeInvalid                // an argument is out of range or NULL
	CodeHandle                 // not a live handle of this kind
	CodeConfig                 // a setting of the disruptor is invalid
	CodeNoMemory               // the ring's memory could not be allocated
	CodeFull                   // no room in the ring now (non-waiting calls)
	CodeClaim                  // a claim of fewer than 1 or more slots than the ring has
	CodeTooLarge               // a payload longer than the event size
	CodeNotStarted             // publishing before Start
	CodeStarted                // consumers added, or Start called, after Start
	CodeShutdown               // the disruptor is shut down (or shutting down)
	CodeHalted                 // a consumer stopped because its handler failed
	CodeTimeout                // shutdown gave up waiting and halted without draining
	CodeInternal               // a bug: a Go panic was caught at the boundary
	numCodes
)

// codeTable is the one table of the bindings' errors: name and text by
// code.
var codeTable = [numCodes]struct{ name, text string }{
	CodeOK:         {"BB_OK", "success"},
	CodeInvalid:    {"BB_EINVAL", "invalid argument"},
	CodeHandle:     {"BB_EHANDLE", "not a live handle"},
	CodeConfig:     {"BB_ECONFIG", "invalid disruptor configuration"},
	CodeNoMemory:   {"BB_ENOMEM", "out of memory"},
	CodeFull:       {"BB_EFULL", "ring full: no room for the claim now"},
	CodeClaim:      {"BB_ECLAIM", "claim size out of range (1 to the ring size)"},
	CodeTooLarge:   {"BB_ETOOLARGE", "payload larger than the event size"},
	CodeNotStarted: {"BB_ENOTSTARTED", "disruptor not started"},
	CodeStarted:    {"BB_ESTARTED", "disruptor already started"},
	CodeShutdown:   {"BB_ESHUTDOWN", "disruptor shut down"},
	CodeHalted:     {"BB_EHALTED", "a consumer halted: its handler failed"},
	CodeTimeout:    {"BB_ETIMEOUT", "timed out: halted without draining"},
	CodeInternal:   {"BB_EINTERNAL", "internal error (a bug)"},
}

// Codes lists every code, in order.
func Codes() []Code {
	cs := make([]Code, numCodes)
	for i := range cs {
		cs[i] = Code(i)
	}
	return cs
}

// Name is the code's C name, such as "BB_EFULL", or "" for an unknown code.
func (c Code) Name() string {
	if c < 0 || c >= numCodes {
		return ""
	}
	return codeTable[c].name
}

// Text is the code's description, as bb_strerror returns it.
func (c Code) Text() string {
	if c < 0 || c >= numCodes {
		return "unknown error code"
	}
	return codeTable[c].text
}

func (c Code) String() string {
	if n := c.Name(); n != "" {
		return n
	}
	return fmt.Sprintf("Code(%d)", int32(c))
}

// Error is an error with a code. Errors of one code match each other with
// errors.Is, whatever their messages.
type Error struct {
	Code Code
	Msg  string // detail; "" for the code's text alone
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return "badbatch: " + e.Code.Text()
	}
	return "badbatch: " + e.Code.Text() + ": " + e.Msg
}

// Is matches any *Error of the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The sentinels, one per code, for errors.Is.
var (
	ErrInvalid    = &Error{Code: CodeInvalid}
	ErrHandle     = &Error{Code: CodeHandle}
	ErrConfig     = &Error{Code: CodeConfig}
	ErrNoMemory   = &Error{Code: CodeNoMemory}
	ErrFull       = &Error{Code: CodeFull}
	ErrClaim      = &Error{Code: CodeClaim}
	ErrTooLarge   = &Error{Code: CodeTooLarge}
	ErrNotStarted = &Error{Code: CodeNotStarted}
	ErrStarted    = &Error{Code: CodeStarted}
	ErrShutdown   = &Error{Code: CodeShutdown}
	ErrHalted     = &Error{Code: CodeHalted}
	ErrTimeout    = &Error{Code: CodeTimeout}
	ErrInternal   = &Error{Code: CodeInternal}
)

// CodeOf returns the code of err: CodeOK for nil, the code of the first
// *Error in its chain, and CodeInternal for any other error.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	if e, ok := err.(*Error); ok { // fast path: errors.As costs more than a claim
		return e.Code
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

func errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}
