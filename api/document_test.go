package api

import (
	"reflect"
	"slices"
	"testing"

	"github.com/badbatch/badbatch/disruptor"
	"github.com/badbatch/badbatch/engine"
	"github.com/badbatch/badbatch/wire"
)

// TestWireRulesMatchEngine: the values the wire types allow are the
// engine's names, so the strict check refuses nothing the engine takes in
// its own spelling, and every wait strategy has an idle cost.
func TestWireRulesMatchEngine(t *testing.T) {
	oneof := func(v any, field string) []string {
		for _, f := range specOf(reflect.TypeOf(v)).fields {
			if f.name == field {
				return f.oneof
			}
		}
		t.Fatalf("%T.%s has no oneof rule", v, field)
		return nil
	}
	if got := oneof(wire.CreateRequest{}, "wait_strategy"); !slices.Equal(got, disruptor.WaitStrategyNames) {
		t.Errorf("wait_strategy oneof %v, the disruptor's names %v", got, disruptor.WaitStrategyNames)
	}
	for _, ws := range disruptor.WaitStrategyNames {
		if idleCosts[ws] == "" {
			t.Errorf("no idle cost for %s", ws)
		}
	}
	var states []string
	for _, s := range engine.States {
		if s != engine.StateDeleted {
			states = append(states, s.String())
		}
	}
	if got := oneof(wire.StateRequest{}, "state"); !slices.Equal(got, states) {
		t.Errorf("state oneof %v, the engine's states %v", got, states)
	}
	eng, err := engine.New(engine.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(t.Context())
	for _, p := range oneof(wire.CreateRequest{}, "producer_type") {
		if info, err := eng.Create(engine.DisruptorConfig{Name: "p-" + p, ProducerType: p}, false); err != nil || info.ProducerType != p {
			t.Errorf("producer_type %q: %v %v", p, info.ProducerType, err)
		}
	}
	for _, o := range oneof(wire.CreateRequest{}, "overflow") {
		if p, err := engine.ParseOverflowPolicy(o); err != nil || p.String() != o {
			t.Errorf("overflow %q: %v %v", o, p, err)
		}
	}
}
