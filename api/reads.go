package api

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/badbatch/badbatch/engine"
)

// The reads of disruptors and their events.

// intParam parses an integer query parameter within [min, max]; absent
// means def.
func (c *call) intParam(q url.Values, name string, def, min, max int64) (int64, *Error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < min || v > max {
		return 0, newError(CodeInvalidParameter, fmt.Sprintf("%s=%q must be an integer from %d to %d", name, s, min, max),
			map[string]any{"parameter": name, "value": s})
	}
	return v, nil
}

func (c *call) listDisruptors() {
	q := c.r.URL.Query()
	limit, e := c.intParam(q, "limit", int64(c.s.cfg.ListDefaultLimit), 1, int64(c.s.cfg.ListMaxLimit))
	if e != nil {
		c.fail(e)
		return
	}
	var states []engine.State
	if v := q.Get("state"); v != "" {
		for _, name := range strings.Split(v, ",") {
			st, err := engine.ParseState(strings.TrimSpace(name))
			if err != nil || st == engine.StateDeleted {
				c.fail(newError(CodeInvalidParameter, fmt.Sprintf("state=%q is not a state", name),
					map[string]any{"parameter": "state", "value": name}))
				return
			}
			states = append(states, st)
		}
	}
	glob := q.Get("name")
	if glob != "" {
		if _, err := path.Match(glob, ""); err != nil {
			c.fail(newError(CodeInvalidParameter, fmt.Sprintf("name=%q is not a valid pattern", glob),
				map[string]any{"parameter": "name", "value": glob}))
			return
		}
	}
	after := q.Get("after")
	out := DisruptorList{Disruptors: []Disruptor{}}
	for _, info := range c.s.eng.List() {
		if info.Name <= after && after != "" {
			continue
		}
		if glob != "" {
			if ok, _ := path.Match(glob, info.Name); !ok {
				continue
			}
		}
		if !c.visible(info.Name) {
			continue
		}
		if len(states) > 0 && !containsState(states, info.State) {
			continue
		}
		if len(out.Disruptors) == int(limit) {
			out.Next = out.Disruptors[len(out.Disruptors)-1].Name
			break
		}
		out.Disruptors = append(out.Disruptors, c.s.disruptor(info))
	}
	c.respond(http.StatusOK, out)
}

func containsState(ss []engine.State, s engine.State) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (c *call) getDisruptor() {
	info, err := c.s.eng.Info(c.r.PathValue("name"))
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, c.s.disruptor(info))
}

func (c *call) getState() {
	info, err := c.s.eng.Info(c.r.PathValue("name"))
	if err != nil {
		c.failEngine(err)
		return
	}
	c.respond(http.StatusOK, StateResponse{Disruptor: info.Name, State: info.State.String()})
}

// recordsPool recycles read buffers.
var recordsPool = sync.Pool{New: func() any { return new(engine.Records) }}

func getRecords() *engine.Records { return recordsPool.Get().(*engine.Records) }

func putRecords(r *engine.Records) {
	r.Reset()
	recordsPool.Put(r)
}

// seqParam parses a sequence parameter.
func seqParam(name, s string) (int64, *Error) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, newError(CodeInvalidParameter, fmt.Sprintf("%s=%q must be a sequence number (an integer >= 0)", name, s),
			map[string]any{"parameter": name, "value": s})
	}
	return v, nil
}

func (c *call) replay() {
	name := c.r.PathValue("name")
	q := c.r.URL.Query()
	limit, e := c.intParam(q, "limit", int64(c.s.cfg.ReplayDefaultLimit), 1, int64(c.s.cfg.ReplayMaxLimit))
	if e != nil {
		c.fail(e)
		return
	}
	var from int64
	if v := q.Get("from"); v != "" {
		if from, e = seqParam("from", v); e != nil {
			c.fail(e)
			return
		}
	} else {
		info, err := c.s.eng.Info(name)
		if err != nil {
			c.failEngine(err)
			return
		}
		from = info.Oldest
	}
	rec := getRecords()
	defer putRecords(rec)
	w, err := c.s.eng.Read(name, from, int(limit), rec)
	if err != nil {
		c.failEngine(err)
		return
	}
	page := replayPage{Disruptor: name, Events: rec.Events, Next: w.Next, Oldest: w.Oldest, Latest: w.Latest}
	c.sendEncoded(func(dst []byte) ([]byte, error) { return codecs[c.out].page(dst, &page) })
}

func (c *call) getEvent() {
	seq, e := seqParam("seq", c.r.PathValue("seq"))
	if e != nil {
		c.fail(e)
		return
	}
	rec := getRecords()
	defer putRecords(rec)
	ev, err := c.s.eng.Get(c.r.PathValue("name"), seq, rec)
	if err != nil {
		c.failEngine(err)
		return
	}
	c.sendEncoded(func(dst []byte) ([]byte, error) { return codecs[c.out].event(dst, &ev) })
}
