//go:build wasip1

// Command wasip1 is the BadBatch core as a WASI (preview 1) reactor
// module, for wasm runtimes at the edge and in servers:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o badbatch.wasm ./bindings/wasm/wasip1
//
// The host calls _initialize once, then the bb_* exports below. Every
// export returns a BB_* code (bindings/c/badbatch.h; 0 is success) and
// writes its results through pointers into the module's memory, which
// the host gets from bb_alloc. Nothing waits (see package wasmapi): a full
// ring is BB_EFULL, an empty poll returns 0 events.
package main

//lint:file-ignore U1000 the bb_* functions are called by the host through //go:wasmexport, which staticcheck does not see

import (
	"unsafe"

	"github.com/badbatch/badbatch/bindings/internal/bytering"
	"github.com/badbatch/badbatch/bindings/wasm/wasmapi"
)

func main() {}

// buffers keeps the memory handed to the host alive until bb_dealloc.
var buffers = map[uintptr][]byte{}

func code(err error) int32 { return int32(bytering.CodeOf(err)) }

// bytesAt is n bytes of module memory at p.
func bytesAt(p unsafe.Pointer, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

func u32sAt(p unsafe.Pointer, n uint32) []uint32 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*uint32)(p), n)
}

// bb_alloc returns n bytes of module memory (8-byte aligned) for the host
// to write arguments into and read results from, or 0 when n is 0. It
// stays valid until bb_dealloc.
//
//go:wasmexport bb_alloc
func bb_alloc(n uint32) unsafe.Pointer {
	if n == 0 {
		return nil
	}
	words := make([]uint64, (n+7)/8)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), n)
	p := unsafe.Pointer(&b[0])
	buffers[uintptr(p)] = b
	return p
}

// bb_dealloc releases memory from bb_alloc.
//
//go:wasmexport bb_dealloc
func bb_dealloc(p unsafe.Pointer) int32 {
	if _, ok := buffers[uintptr(p)]; !ok {
		return int32(bytering.CodeInvalid)
	}
	delete(buffers, uintptr(p))
	return 0
}

// bb_new makes a disruptor: slots (a power of 2) of eventSize bytes,
// producer 0 single or 1 multi, the wait strategy's name in memory at
// wait (waitLen bytes; 0 for blocking). The handle goes to *out.
//
//go:wasmexport bb_new
func bb_new(slots, eventSize, producer uint32, wait unsafe.Pointer, waitLen uint32, out unsafe.Pointer) int32 {
	if out == nil || producer > 1 {
		return int32(bytering.CodeInvalid)
	}
	h, err := wasmapi.New(int(slots), int(eventSize), [2]string{"single", "multi"}[producer], string(bytesAt(wait, waitLen)))
	if err != nil {
		return code(err)
	}
	*(*int32)(out) = h
	return 0
}

// bb_poller_new adds a poller (before bb_start); its handle goes to *out.
//
//go:wasmexport bb_poller_new
func bb_poller_new(h int32, out unsafe.Pointer) int32 {
	if out == nil {
		return int32(bytering.CodeInvalid)
	}
	p, err := wasmapi.NewPoller(h)
	if err != nil {
		return code(err)
	}
	*(*int32)(out) = p
	return 0
}

//go:wasmexport bb_start
func bb_start(h int32) int32 { return code(wasmapi.Start(h)) }

// bb_publish publishes the n bytes at src; its sequence goes to *seq
// (unless seq is 0).
//
//go:wasmexport bb_publish
func bb_publish(h int32, src unsafe.Pointer, n uint32, seq unsafe.Pointer) int32 {
	s, err := wasmapi.Publish(h, bytesAt(src, n))
	if err != nil {
		return code(err)
	}
	if seq != nil {
		*(*int64)(seq) = s
	}
	return 0
}

// bb_publish_many publishes n events in one claim: event k is the next
// lens[k] bytes at src. The highest sequence goes to *hi (unless 0).
//
//go:wasmexport bb_publish_many
func bb_publish_many(h int32, src unsafe.Pointer, lens unsafe.Pointer, n uint32, hi unsafe.Pointer) int32 {
	ls := u32sAt(lens, n)
	total := uint32(0)
	for _, l := range ls {
		total += l
	}
	s, err := wasmapi.PublishMany(h, bytesAt(src, total), ls)
	if err != nil {
		return code(err)
	}
	if hi != nil {
		*(*int64)(hi) = s
	}
	return 0
}

// bb_poll copies up to max events out: event k to buf + k*event_size,
// its length to lens[k]; the count to *n and the first's sequence to
// *first (unless 0). It never waits.
//
//go:wasmexport bb_poll
func bb_poll(p int32, buf unsafe.Pointer, bufLen uint32, lens unsafe.Pointer, maxEvents uint32, n, first unsafe.Pointer) int32 {
	if buf == nil || lens == nil || n == nil {
		return int32(bytering.CodeInvalid)
	}
	f, k, err := wasmapi.Poll(p, bytesAt(buf, bufLen), u32sAt(lens, maxEvents))
	if err != nil {
		return code(err)
	}
	*(*uint32)(n) = uint32(k)
	if first != nil {
		*(*int64)(first) = f
	}
	return 0
}

//go:wasmexport bb_poller_free
func bb_poller_free(p int32) int32 { return code(wasmapi.PollerFree(p)) }

//go:wasmexport bb_shutdown
func bb_shutdown(h int32) int32 { return code(wasmapi.Shutdown(h)) }

//go:wasmexport bb_free
func bb_free(h int32) int32 { return code(wasmapi.Free(h)) }

// bb_strerror writes the description of code to buf (up to bufLen bytes)
// and returns its full length.
//
//go:wasmexport bb_strerror
func bb_strerror(c int32, buf unsafe.Pointer, bufLen uint32) uint32 {
	t := bytering.Code(c).Text()
	copy(bytesAt(buf, bufLen), t)
	return uint32(len(t))
}
