package main

/*
#include <stdlib.h>
#define BADBATCH_NO_PROTOTYPES
#include "badbatch.h"
*/
import "C"

import (
	"context"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"

	"github.com/badbatch/badbatch/bindings/internal/bytering"
)

// cDisruptor is what a bb_disruptor handle refers to.
type cDisruptor struct {
	r       *bytering.Ring
	mu      sync.Mutex
	pollers []cgo.Handle // deleted by bb_free
}

// cPoller is what a bb_poller handle refers to.
type cPoller struct {
	p *bytering.Poller
	d *cDisruptor
}

// code converts an error to its BB_* code.
func code(err error) C.int { return C.int(bytering.CodeOf(err)) }

// guard turns a panic into BB_EINTERNAL: a Go panic must not unwind into
// C. Every exported function defers it.
func guard(rc *C.int) {
	if recover() != nil {
		*rc = C.int(bytering.CodeInternal)
	}
}

// lookup returns the value of handle h when it is a live handle of type T.
// cgo.Handle.Value panics on a deleted handle; that is recovered here.
func lookup[T any](h C.uintptr_t) (v *T) {
	defer func() {
		if recover() != nil {
			v = nil
		}
	}()
	if h == 0 {
		return nil
	}
	v, _ = cgo.Handle(h).Value().(*T)
	return v
}

func cAlloc(n int) ([]byte, error) {
	p := C.calloc(C.size_t(n), 1)
	if p == nil {
		return nil, bytering.ErrNoMemory
	}
	return unsafe.Slice((*byte)(p), n), nil
}

func cRelease(b []byte) { C.free(unsafe.Pointer(unsafe.SliceData(b))) }

// bytesAt is the n bytes at p, which C owns; nil for n == 0.
func bytesAt(p unsafe.Pointer, n C.size_t) []byte {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(n))
}

func writeMsg(buf *C.char, n C.size_t, msg string) {
	if buf == nil || n == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	k := copy(b[:len(b)-1], msg)
	b[k] = 0
}

//export bb_strerror
func bb_strerror(c C.int) *C.char { return codeText(c) }

//export bb_error_name
func bb_error_name(c C.int) *C.char { return codeName(c) }

//export bb_new
func bb_new(slots, eventSize C.size_t, producer, wait *C.char, out *C.bb_disruptor, errbuf *C.char, errlen C.size_t) (rc C.int) {
	defer guard(&rc)
	if out == nil {
		return code(bytering.ErrInvalid)
	}
	cfg := bytering.Config{
		Slots:       int(min(slots, 1<<40)),
		EventSize:   int(min(eventSize, 1<<40)),
		Alloc:       cAlloc,
		Release:     cRelease,
		LockThreads: true,
	}
	if producer != nil {
		cfg.Producer = C.GoString(producer)
	}
	if wait != nil {
		cfg.Wait = C.GoString(wait)
	}
	r, err := bytering.New(cfg)
	if err != nil {
		writeMsg(errbuf, errlen, err.Error())
		return code(err)
	}
	*out = C.bb_disruptor(cgo.NewHandle(&cDisruptor{r: r}))
	return 0
}

//export bb_handle_events
func bb_handle_events(h C.bb_disruptor, fn C.bb_handler, ctx unsafe.Pointer) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if fn == nil {
		return code(bytering.ErrInvalid)
	}
	return code(d.r.HandleEvents(callback(fn, C.uintptr_t(uintptr(ctx)), d.r.EventSize())))
}

//export bb_poller_new
func bb_poller_new(h C.bb_disruptor, out *C.bb_poller) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if out == nil {
		return code(bytering.ErrInvalid)
	}
	p, err := d.r.NewPoller()
	if err != nil {
		return code(err)
	}
	ph := cgo.NewHandle(&cPoller{p: p, d: d})
	d.mu.Lock()
	d.pollers = append(d.pollers, ph)
	d.mu.Unlock()
	*out = C.bb_poller(ph)
	return 0
}

//export bb_start
func bb_start(h C.bb_disruptor) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	return code(d.r.Start())
}

//export bb_shutdown
func bb_shutdown(h C.bb_disruptor, timeoutNS C.int64_t) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	ctx := context.Background()
	if timeoutNS >= 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutNS))
		defer cancel()
	}
	return code(d.r.Shutdown(ctx))
}

//export bb_halt
func bb_halt(h C.bb_disruptor) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	d.r.Halt()
	return 0
}

//export bb_free
func bb_free(h C.bb_disruptor) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	cgo.Handle(h).Delete()
	d.mu.Lock()
	for _, ph := range d.pollers {
		ph.Delete()
	}
	d.pollers = nil
	d.mu.Unlock()
	d.r.Free()
	return 0
}

//export bb_next
func bb_next(h C.bb_disruptor, seq *C.int64_t) (rc C.int) {
	return claim(h, 1, seq, true)
}

//export bb_next_n
func bb_next_n(h C.bb_disruptor, n C.size_t, hi *C.int64_t) (rc C.int) {
	return claim(h, n, hi, true)
}

//export bb_try_next
func bb_try_next(h C.bb_disruptor, seq *C.int64_t) (rc C.int) {
	return claim(h, 1, seq, false)
}

//export bb_try_next_n
func bb_try_next_n(h C.bb_disruptor, n C.size_t, hi *C.int64_t) (rc C.int) {
	return claim(h, n, hi, false)
}

func claim(h C.bb_disruptor, n C.size_t, out *C.int64_t, wait bool) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if out == nil {
		return code(bytering.ErrInvalid)
	}
	if n > C.size_t(d.r.Slots()) {
		return code(bytering.ErrClaim)
	}
	var hi int64
	var err error
	if wait {
		hi, err = d.r.Next(int(n))
	} else {
		hi, err = d.r.TryNext(int(n))
	}
	if err != nil {
		return code(err)
	}
	*out = C.int64_t(hi)
	return 0
}

//export bb_ring
func bb_ring(h C.bb_disruptor, out *C.bb_ring_info) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if out == nil {
		return code(bytering.ErrInvalid)
	}
	out.events = unsafe.Pointer(unsafe.SliceData(d.r.Data()))
	out.lengths = (*C.uint32_t)(unsafe.SliceData(d.r.Lengths()))
	out.slots = C.size_t(d.r.Slots())
	out.event_size = C.size_t(d.r.EventSize())
	return 0
}

//export bb_get
func bb_get(h C.bb_disruptor, seq C.int64_t, event *unsafe.Pointer) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if event == nil || seq < 0 {
		return code(bytering.ErrInvalid)
	}
	*event = unsafe.Pointer(unsafe.SliceData(d.r.Event(int64(seq))))
	return 0
}

//export bb_set_length
func bb_set_length(h C.bb_disruptor, seq C.int64_t, n C.size_t) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if seq < 0 {
		return code(bytering.ErrInvalid)
	}
	if n > C.size_t(d.r.EventSize()) {
		return code(bytering.ErrTooLarge)
	}
	return code(d.r.SetLength(int64(seq), int(n)))
}

//export bb_write
func bb_write(h C.bb_disruptor, seq C.int64_t, src unsafe.Pointer, n C.size_t) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if seq < 0 || (src == nil && n > 0) {
		return code(bytering.ErrInvalid)
	}
	if n > C.size_t(d.r.EventSize()) {
		return code(bytering.ErrTooLarge)
	}
	return code(d.r.Write(int64(seq), bytesAt(src, n)))
}

//export bb_publish
func bb_publish(h C.bb_disruptor, seq C.int64_t) (rc C.int) {
	return publishRange(h, seq, seq)
}

//export bb_publish_range
func bb_publish_range(h C.bb_disruptor, lo, hi C.int64_t) (rc C.int) {
	return publishRange(h, lo, hi)
}

func publishRange(h C.bb_disruptor, lo, hi C.int64_t) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	return code(d.r.PublishRange(int64(lo), int64(hi)))
}

//export bb_publish_copy
func bb_publish_copy(h C.bb_disruptor, src unsafe.Pointer, n C.size_t, seq *C.int64_t) (rc C.int) {
	return publishCopy(h, src, n, seq, true)
}

//export bb_try_publish_copy
func bb_try_publish_copy(h C.bb_disruptor, src unsafe.Pointer, n C.size_t, seq *C.int64_t) (rc C.int) {
	return publishCopy(h, src, n, seq, false)
}

func publishCopy(h C.bb_disruptor, src unsafe.Pointer, n C.size_t, out *C.int64_t, wait bool) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if src == nil && n > 0 {
		return code(bytering.ErrInvalid)
	}
	if n > C.size_t(d.r.EventSize()) {
		return code(bytering.ErrTooLarge)
	}
	seq, err := d.r.PublishCopy(bytesAt(src, n), wait)
	if err != nil {
		return code(err)
	}
	if out != nil {
		*out = C.int64_t(seq)
	}
	return 0
}

//export bb_publish_many
func bb_publish_many(h C.bb_disruptor, src unsafe.Pointer, lengths *C.uint32_t, n C.size_t, hi *C.int64_t) (rc C.int) {
	return publishMany(h, src, lengths, n, hi, true)
}

//export bb_try_publish_many
func bb_try_publish_many(h C.bb_disruptor, src unsafe.Pointer, lengths *C.uint32_t, n C.size_t, hi *C.int64_t) (rc C.int) {
	return publishMany(h, src, lengths, n, hi, false)
}

func publishMany(h C.bb_disruptor, src unsafe.Pointer, lengths *C.uint32_t, n C.size_t, out *C.int64_t, wait bool) (rc C.int) {
	defer guard(&rc)
	d := lookup[cDisruptor](h)
	if d == nil {
		return code(bytering.ErrHandle)
	}
	if n == 0 || n > C.size_t(d.r.Slots()) {
		return code(bytering.ErrClaim)
	}
	var data []byte
	var lens []uint32
	if lengths == nil {
		data = bytesAt(src, n*C.size_t(d.r.EventSize()))
	} else {
		lens = unsafe.Slice((*uint32)(unsafe.Pointer(lengths)), int(n))
		total := 0
		for _, l := range lens {
			if int(l) > d.r.EventSize() {
				return code(bytering.ErrTooLarge)
			}
			total += int(l)
		}
		data = bytesAt(src, C.size_t(total))
	}
	if src == nil && len(data) > 0 {
		return code(bytering.ErrInvalid)
	}
	hi, err := d.r.PublishMany(data, lens, wait)
	if err != nil {
		return code(err)
	}
	if out != nil {
		*out = C.int64_t(hi)
	}
	return 0
}

//export bb_poll
func bb_poll(h C.bb_poller, buf unsafe.Pointer, bufLen C.size_t, lengths *C.uint32_t, maxEvents C.size_t, timeoutNS C.int64_t, n *C.size_t, first *C.int64_t) (rc C.int) {
	defer guard(&rc)
	p := lookup[cPoller](h)
	if p == nil {
		return code(bytering.ErrHandle)
	}
	size := C.size_t(p.d.r.EventSize())
	if buf == nil || lengths == nil || n == nil || maxEvents == 0 || bufLen/size < maxEvents {
		return code(bytering.ErrInvalid)
	}
	out := unsafe.Slice((*byte)(buf), int(maxEvents*size))
	lens := unsafe.Slice((*uint32)(unsafe.Pointer(lengths)), int(maxEvents))
	f, k, err := p.p.Poll(out, lens, time.Duration(timeoutNS))
	if err != nil {
		return code(err)
	}
	*n = C.size_t(k)
	if first != nil {
		*first = C.int64_t(f)
	}
	return 0
}

//export bb_poller_free
func bb_poller_free(h C.bb_poller) (rc C.int) {
	defer guard(&rc)
	p := lookup[cPoller](h)
	if p == nil {
		return code(bytering.ErrHandle)
	}
	p.d.mu.Lock()
	for i, ph := range p.d.pollers {
		if ph == cgo.Handle(h) {
			p.d.pollers = append(p.d.pollers[:i], p.d.pollers[i+1:]...)
			break
		}
	}
	p.d.mu.Unlock()
	cgo.Handle(h).Delete()
	p.p.Close()
	return 0
}
