package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// ddbCounts is what a storm asked of DynamoDB, seen on the wire.
type ddbCounts struct {
	calls      int64
	ops        map[string]int64
	batchItems int64
	// writeUnits sums, over every write request and every item of a
	// BatchWriteItem, ceil(size/1 KB) where size is the JSON length of the
	// item (PutItem, BatchWriteItem) or of the key and expression values
	// (UpdateItem): DynamoDB's own size count is smaller (no type
	// wrappers, no JSON quoting), so this is an upper bound.
	writeUnits int64
	maxItem    map[string]int // by operation
}

func (c ddbCounts) wru() int64 { return c.writeUnits }

// rru: every read here is a strongly consistent GetItem or a Query of the
// window partition, each well under 4 KB: one read request unit a call.
func (c ddbCounts) rru() int64 { return c.ops["GetItem"] + c.ops["Query"] }

func (c ddbCounts) String() string {
	names := make([]string, 0, len(c.ops))
	for k := range c.ops {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		s := fmt.Sprintf("%s %d", k, c.ops[k])
		if k == "BatchWriteItem" {
			s += fmt.Sprintf(" (%d items)", c.batchItems)
		}
		if n := c.maxItem[k]; n > 0 {
			s += fmt.Sprintf(" <= %d B", n)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

type ddbCounter struct {
	mu sync.Mutex
	c  ddbCounts
}

func (d *ddbCounter) reset() {
	d.mu.Lock()
	d.c = ddbCounts{ops: map[string]int64{}, maxItem: map[string]int{}}
	d.mu.Unlock()
}

func (d *ddbCounter) snapshot() ddbCounts {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.c
	c.ops = map[string]int64{}
	for k, v := range d.c.ops {
		c.ops[k] = v
	}
	c.maxItem = map[string]int{}
	for k, v := range d.c.maxItem {
		c.maxItem[k] = v
	}
	return c
}

func units(n int) int64 { return int64((n + 1023) / 1024) }

// ddbCountingProxy forwards to target and counts DynamoDB requests by
// operation (the X-Amz-Target header of DynamoDB's JSON protocol).
func ddbCountingProxy(target string) (*httptest.Server, *ddbCounter) {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	d := &ddbCounter{}
	d.reset()
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := r.Header.Get("X-Amz-Target")
		op = op[strings.LastIndexByte(op, '.')+1:]
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var in struct {
			Item                      json.RawMessage
			Key                       json.RawMessage
			ExpressionAttributeValues json.RawMessage
			RequestItems              map[string][]struct {
				PutRequest    *struct{ Item json.RawMessage }
				DeleteRequest *struct{ Key json.RawMessage }
			}
		}
		_ = json.Unmarshal(body, &in)
		d.mu.Lock()
		d.c.calls++
		d.c.ops[op]++
		write := func(n int) {
			d.c.writeUnits += units(n)
			d.c.maxItem[op] = max(d.c.maxItem[op], n)
		}
		switch op {
		case "PutItem":
			write(len(in.Item))
		case "UpdateItem":
			write(len(in.Key) + len(in.ExpressionAttributeValues))
		case "BatchWriteItem":
			for _, reqs := range in.RequestItems {
				for _, q := range reqs {
					d.c.batchItems++
					switch {
					case q.PutRequest != nil:
						write(len(q.PutRequest.Item))
					case q.DeleteRequest != nil:
						write(len(q.DeleteRequest.Key))
					}
				}
			}
		}
		d.mu.Unlock()
		rp.ServeHTTP(w, r)
	})), d
}
