package main

/*
#define BADBATCH_NO_PROTOTYPES
#include "badbatch.h"

// bb_call calls a consumer's callback: Go cannot call a C function
// pointer itself. ctx travels as an integer so that Go never holds it as a
// pointer.
static inline int bb_call(bb_handler fn, uintptr_t ctx, int64_t first, size_t count,
                          const void *events, const uint32_t *lengths, size_t event_size) {
	return fn((void *)ctx, first, count, events, lengths, event_size);
}

// The static strings of bb_strerror and bb_error_name, made once from the
// Go table and held here, in C, so that LeakSanitizer sees them referenced.
enum { BB_MAX_CODES = 64 };
static char *bb_texts[BB_MAX_CODES], *bb_names[BB_MAX_CODES];
static inline void bb_set_strings(int i, char *text, char *name) { bb_texts[i] = text; bb_names[i] = name; }
static inline char *bb_text(int i) { return bb_texts[i]; }
static inline char *bb_name(int i) { return bb_names[i]; }
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/badbatch/badbatch/bindings/internal/bytering"
)

// numCodes is how many codes bb_strerror knows.
var numCodes = func() int {
	cs := bytering.Codes()
	if len(cs) >= C.BB_MAX_CODES {
		panic("bindings/c: too many error codes for bb_texts")
	}
	for _, c := range cs {
		C.bb_set_strings(C.int(c), C.CString(c.Text()), C.CString(c.Name()))
	}
	C.bb_set_strings(C.BB_MAX_CODES-1, C.CString(bytering.Code(-1).Text()), nil)
	return len(cs)
}()

// codeText and codeName are the static strings of code c: codeText says
// "unknown error code" for an unknown c, codeName returns nil.
func codeText(c C.int) *C.char {
	if c < 0 || int(c) >= numCodes {
		return C.bb_text(C.BB_MAX_CODES - 1)
	}
	return C.bb_text(c)
}

func codeName(c C.int) *C.char {
	if c < 0 || int(c) >= numCodes {
		return nil
	}
	return C.bb_name(c)
}

// callback adapts a C callback to a bytering.Handler. data and lens are
// the ring's C memory, so C may read them during the call (no Go pointer
// is passed).
func callback(fn C.bb_handler, ctx C.uintptr_t, size int) bytering.Handler {
	return func(first int64, data []byte, lens []uint32) error {
		rc := C.bb_call(fn, ctx, C.int64_t(first), C.size_t(len(lens)),
			unsafe.Pointer(unsafe.SliceData(data)), (*C.uint32_t)(unsafe.SliceData(lens)), C.size_t(size))
		if rc != 0 {
			return fmt.Errorf("callback returned %d at sequence %d", int(rc), first)
		}
		return nil
	}
}
