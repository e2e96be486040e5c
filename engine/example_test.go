package engine_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/badbatch/badbatch/engine"
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
