package wire

// ErrorBody is the body of every error response:
//
//	{"error": {"code": "RING_FULL", "message": "...", "details": {...}}}
type ErrorBody struct {
	Error *Error `json:"error" yaml:"error"`
}

// Error is the envelope's error. Details is always an object (never null
// on the wire); what it holds depends on the code.
type Error struct {
	// Code is a stable code of the table ([Lookup]).
	Code string `json:"code" yaml:"code"`
	// Message explains the error to people; it is not stable.
	Message string `json:"message" yaml:"message"`
	// Details carries the code's specifics (oldest_sequence, errors, ...).
	Details map[string]any `json:"details" yaml:"details"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Status is the HTTP status of the error's code ([Status]).
func (e *Error) Status() int { return Status(e.Code) }
