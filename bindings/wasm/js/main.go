//go:build js && wasm

// Command js is the BadBatch core for browsers (and Node.js), over
// syscall/js:
//
//	GOOS=js GOARCH=wasm go build -o badbatch.wasm ./bindings/wasm/js
//
// Load it with Go's wasm_exec.js (in $(go env GOROOT)/lib/wasm) and
// run it; it sets globalThis.badbatch and stays ready for calls:
//
//	const go = new Go();
//	const { instance } = await WebAssembly.instantiateStreaming(fetch("badbatch.wasm"), go.importObject);
//	go.run(instance);
//	const d = badbatch.newDisruptor({ size: 1024, eventSize: 64 });
//	const p = d.poller();
//	d.start();
//	d.publish(new TextEncoder().encode("hello"));   // its sequence
//	p.poll(100);                                    // [Uint8Array], never waits
//	d.shutdown(); d.free();
//
// Everything runs on the page's one thread and nothing waits: a publish
// into a full ring throws (code BB_EFULL; poll, then publish again), and
// the wait strategies that spin are refused (see package wasmapi).
// Failures are thrown as Errors with a numeric code and its codeName,
// such as 5 and "BB_EFULL" (bindings/c/badbatch.h).
package main

import (
	"syscall/js"

	"github.com/badbatch/badbatch/bindings/internal/bytering"
	"github.com/badbatch/badbatch/bindings/wasm/wasmapi"
)

func main() {
	codes := map[string]any{}
	for _, c := range bytering.Codes() {
		codes[c.Name()] = int(c)
	}
	js.Global().Set("badbatch", js.ValueOf(map[string]any{
		"newDisruptor": export(newDisruptor),
		"codes":        codes,
	}))
	select {} // stay alive for the page's calls
}

// thrower makes a JS function that calls a Go function and throws the
// Error it returns: a Go function cannot throw into JS itself.
var thrower = js.Global().Get("Function").New("f",
	"return function(...args) { const r = f(...args); if (r instanceof Error) throw r; return r; }")

var funcs []js.Func // kept for the life of the page

func export(f func(args []js.Value) (any, error)) js.Value {
	fn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		v, err := f(args)
		if err != nil {
			return jsError(err)
		}
		return v
	})
	funcs = append(funcs, fn)
	return thrower.Invoke(fn)
}

func jsError(err error) js.Value {
	e := js.Global().Get("Error").New(err.Error())
	c := bytering.CodeOf(err)
	e.Set("name", "BadBatchError")
	e.Set("code", int(c))
	e.Set("codeName", c.Name())
	return e
}

func badArg(msg string) error { return &bytering.Error{Code: bytering.CodeInvalid, Msg: msg} }

func option(o js.Value, key string, def js.Value) js.Value {
	if o.Type() != js.TypeObject {
		return def
	}
	if v := o.Get(key); v.Type() != js.TypeUndefined {
		return v
	}
	return def
}

func newDisruptor(args []js.Value) (any, error) {
	var o js.Value
	if len(args) > 0 {
		o = args[0]
	}
	size, eventSize := option(o, "size", js.ValueOf(1024)), option(o, "eventSize", js.ValueOf(256))
	producer, wait := option(o, "producer", js.ValueOf("single")), option(o, "wait", js.ValueOf("blocking"))
	if size.Type() != js.TypeNumber || eventSize.Type() != js.TypeNumber || producer.Type() != js.TypeString || wait.Type() != js.TypeString {
		return nil, badArg("want {size: number, eventSize: number, producer: string, wait: string}")
	}
	h, err := wasmapi.New(size.Int(), eventSize.Int(), producer.String(), wait.String())
	if err != nil {
		return nil, err
	}
	es := eventSize.Int()
	return map[string]any{
		"start":       export(func([]js.Value) (any, error) { return nil, wasmapi.Start(h) }),
		"shutdown":    export(func([]js.Value) (any, error) { return nil, wasmapi.Shutdown(h) }),
		"free":        export(func([]js.Value) (any, error) { return nil, wasmapi.Free(h) }),
		"publish":     export(func(a []js.Value) (any, error) { return publish(h, es, a) }),
		"publishMany": export(func(a []js.Value) (any, error) { return publishMany(h, es, a) }),
		"poller":      export(func([]js.Value) (any, error) { return newPoller(h, es) }),
	}, nil
}

func bytesOf(v js.Value, limit int) ([]byte, error) {
	if v.Type() != js.TypeObject || !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return nil, badArg("an event is a Uint8Array")
	}
	n := v.Get("length").Int()
	if n > limit {
		return nil, &bytering.Error{Code: bytering.CodeTooLarge}
	}
	b := make([]byte, n)
	js.CopyBytesToGo(b, v)
	return b, nil
}

func publish(h int32, size int, args []js.Value) (any, error) {
	if len(args) != 1 {
		return nil, badArg("publish(event)")
	}
	b, err := bytesOf(args[0], size)
	if err != nil {
		return nil, err
	}
	seq, err := wasmapi.Publish(h, b)
	return float64(seq), err
}

func publishMany(h int32, size int, args []js.Value) (any, error) {
	if len(args) != 1 || !args[0].InstanceOf(js.Global().Get("Array")) {
		return nil, badArg("publishMany([event, ...])")
	}
	n := args[0].Length()
	var data []byte
	lens := make([]uint32, n)
	for i := range n {
		b, err := bytesOf(args[0].Index(i), size)
		if err != nil {
			return nil, err
		}
		data = append(data, b...)
		lens[i] = uint32(len(b))
	}
	hi, err := wasmapi.PublishMany(h, data, lens)
	return float64(hi), err
}

func newPoller(h int32, size int) (any, error) {
	p, err := wasmapi.NewPoller(h)
	if err != nil {
		return nil, err
	}
	var out []byte
	var lens []uint32
	u8 := js.Global().Get("Uint8Array")
	return map[string]any{
		// poll(max) returns up to max events (default 1024), [] when none.
		"poll": export(func(a []js.Value) (any, error) {
			limit := 1024
			if len(a) > 0 && a[0].Type() == js.TypeNumber {
				limit = a[0].Int()
			}
			if limit < 1 {
				return nil, badArg("poll(max): max must be at least 1")
			}
			if len(lens) < limit {
				out, lens = make([]byte, limit*size), make([]uint32, limit)
			}
			_, n, err := wasmapi.Poll(p, out[:limit*size], lens[:limit])
			if err != nil {
				return nil, err
			}
			events := make([]any, n)
			for k := range n {
				ev := u8.New(int(lens[k]))
				js.CopyBytesToJS(ev, out[k*size:k*size+int(lens[k])])
				events[k] = ev
			}
			return events, nil
		}),
		"close": export(func([]js.Value) (any, error) { return nil, wasmapi.PollerFree(p) }),
	}, nil
}
