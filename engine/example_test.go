package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/journal"
)

func Example() {
	ctx := context.Background()
	eng, err := engine.New(engine.DefaultConfig())
	if err != nil {
		panic(err)
	}
	defer eng.Close(ctx)

	if _, err := eng.Create(engine.DisruptorConfig{Name: "orders", BufferSize: 8}, true); err != nil {
		panic(err)
	}
	first, err := eng.Publish(ctx, "orders", &engine.Batch{Events: []engine.Event{
		{Payload: []byte(`{"id":1}`)},
		{Payload: []byte(`{"id":2}`), Metadata: []engine.Metadata{{Key: "source", Value: "shop"}}},
	}})
	fmt.Println("published from", first, err)

	var rec engine.Records
	if _, err := eng.Read("orders", 0, 10, &rec); err != nil {
		panic(err)
	}
	for _, ev := range rec.Events {
		fmt.Println(ev.Sequence, string(ev.Payload), ev.Metadata)
	}

	// The ring is the replay window: after 8 more events, 0 and 1 are gone.
	for i := range 8 {
		_, _ = eng.Publish(ctx, "orders", &engine.Batch{Events: []engine.Event{{Payload: fmt.Appendf(nil, "%d", i)}}})
	}
	_, err = eng.Read("orders", 0, 10, &rec)
	var ev *engine.EvictedError
	fmt.Println(errors.As(err, &ev), ev.Oldest, engine.Code(err))
	// Output:
	// published from 0 <nil>
	// 0 {"id":1} []
	// 1 {"id":2} [{source shop}]
	// true 2 SEQUENCE_EVICTED
}

func ExampleEngine_Subscribe() {
	ctx := context.Background()
	eng, _ := engine.New(engine.DefaultConfig())
	defer eng.Close(ctx)
	_, _ = eng.Create(engine.DisruptorConfig{Name: "ticks"}, true)

	sub, _ := eng.Subscribe("ticks", engine.SubscribeOptions{From: 0})
	defer sub.Close()
	for i := range 3 {
		_, _ = eng.Publish(ctx, "ticks", &engine.Batch{Events: []engine.Event{{Payload: fmt.Appendf(nil, "%d", i)}}})
	}
	_, _ = eng.SetState(ctx, "ticks", engine.StateStopped)

	var rec engine.Records
	for {
		_, err := sub.Poll(&rec, 16)
		for _, ev := range rec.Events {
			fmt.Println("event", ev.Sequence, string(ev.Payload))
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		if len(rec.Events) == 0 {
			<-sub.Wait()
		}
	}
	// Output:
	// event 0 0
	// event 1 1
	// event 2 2
	// engine: subscription ended (stopped) after sequence 2
}

// ExampleEngine_Recover journals a disruptor, restarts the engine on the
// same data directory, and finds everything again: its events (also
// those its ring no longer holds), its numbering and its idempotency
// keys.
func ExampleEngine_Recover() {
	ctx := context.Background()
	path, err := os.MkdirTemp("", "journal-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(path)
	start := func() (*engine.Engine, *journal.Dir) {
		dir, err := journal.OpenDir(path, journal.DirOptions{})
		if err != nil {
			panic(err)
		}
		cfg := engine.DefaultConfig()
		cfg.Journal = dir
		eng, err := engine.New(cfg)
		if err != nil {
			panic(err)
		}
		return eng, dir
	}

	eng, dir := start()
	if _, err := eng.Create(engine.DisruptorConfig{Name: "orders", BufferSize: 4, Durability: engine.DurabilityJournal, Sync: "always"}, true); err != nil {
		panic(err)
	}
	for i := range 6 {
		b := &engine.Batch{Events: []engine.Event{{Payload: fmt.Appendf(nil, `{"id":%d}`, i)}}, IdempotencyKey: fmt.Sprint("order-", i)}
		if _, err := eng.Publish(ctx, "orders", b); err != nil {
			panic(err)
		}
	}
	_ = eng.Close(ctx)
	_ = dir.Close()

	eng, dir = start()
	defer dir.Close()
	defer eng.Close(ctx)
	info, err := eng.Recover("orders", engine.RecoverOptions{})
	fmt.Println(info.State, info.Oldest, info.Latest, err)
	var rec engine.Records
	_, _ = eng.Read("orders", 0, 10, &rec)
	fmt.Println(len(rec.Events), "events from", rec.Events[0].Sequence)
	retry := &engine.Batch{Events: []engine.Event{{Payload: []byte(`{"id":1}`)}}, IdempotencyKey: "order-1"}
	first, err := eng.Publish(ctx, "orders", retry)
	fmt.Println("retry:", first, retry.Duplicate, err)
	first, err = eng.Publish(ctx, "orders", &engine.Batch{Events: []engine.Event{{Payload: []byte(`{"id":6}`)}}})
	fmt.Println("next:", first, err)
	// Output:
	// running 0 5 <nil>
	// 6 events from 0
	// retry: 1 true <nil>
	// next: 6 <nil>
}
