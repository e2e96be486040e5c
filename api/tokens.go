package api

import (
	"github.com/badbatch/badbatch/engine"
)

// tokenReader reads one document of a body format as a stream of tokens.
// The publish grammar (decode.go) and the strict check of the other bodies
// (document.go) are written once over it; jsonReader, mpReader and
// yamlReader implement it, each with the format's own payload conversion.
//
// Strings it returns are valid UTF-8 (invalid UTF-8 fails, naming where)
// and stay valid until the next call. A reader is used by one goroutine.
type tokenReader interface {
	// kind tells what comes next, without consuming it.
	kind() kind
	// mapStart enters the map that comes next; mapKey then returns its
	// keys one by one (the value follows each), and ok false after the
	// last, leaving the map.
	mapStart() error
	mapKey() (key []byte, ok bool, err error)
	// arrayStart enters the array that comes next; arrayNext reports
	// whether an element follows, and false after the last.
	arrayStart() error
	arrayNext() (ok bool, err error)
	// null consumes a null if one comes next.
	null() bool
	// str reads the string that comes next (in YAML, any scalar but null:
	// YAML's scalars are text).
	str() ([]byte, error)
	// skip checks and passes over the value that comes next.
	skip() error
	// payload reads an event's payload into ev, converting it to compact
	// JSON text in d's arena, or pointing into the body where it can; a
	// binary value (MessagePack bin, YAML !!binary) makes a binary event.
	payload(d *eventDecoder, ev *engine.Event) error
	// end checks that nothing follows the document.
	end() error
}

// kind is the kind of the value a tokenReader has next.
type kind uint8

const (
	kindEnd kind = iota // nothing more
	kindMap
	kindArray
	kindString
	kindNull
	kindBinary
	kindOther // numbers, booleans, timestamps
)

var (
	_ tokenReader = (*jsonReader)(nil)
	_ tokenReader = (*mpReader)(nil)
	_ tokenReader = (*yamlReader)(nil)
)

// eachKey reads the map that comes next, what in messages, calling fn with
// each key; fn reads the key's value.
func eachKey(r tokenReader, what string, fn func(key []byte) error) error {
	if r.kind() != kindMap {
		return malformed("%s must be a map", what)
	}
	if err := r.mapStart(); err != nil {
		return err
	}
	for {
		k, more, err := r.mapKey()
		if err != nil || !more {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
	}
}

// eachElem reads the array that comes next, what in messages, calling fn
// to read each element.
func eachElem(r tokenReader, what string, fn func() error) error {
	if r.kind() != kindArray {
		return malformed("%s must be an array", what)
	}
	if err := r.arrayStart(); err != nil {
		return err
	}
	for {
		more, err := r.arrayNext()
		if err != nil || !more {
			return err
		}
		if err := fn(); err != nil {
			return err
		}
	}
}
