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
	txItems    int64 // items of TransactWriteItems calls
	txReads    int64 // items of TransactGetItems calls
	batchReads int64 // keys of BatchGetItem calls
	// writeUnits sums, over every write request and every item of a
	// BatchWriteItem, ceil(size/1 KB) where size is the JSON length of the
	// item (PutItem, BatchWriteItem) or of the key and expression values
	// (UpdateItem), and twice that for every item of a TransactWriteItems
	// (DynamoDB charges transactional writes double; a cancelled
	// transaction is counted as if written): DynamoDB's own size count is
	// smaller (no type wrappers, no JSON quoting), so this is an upper
	// bound.
	writeUnits int64
	maxItem    map[string]int // by operation
}

func (c ddbCounts) wru() int64 { return c.writeUnits }

// rru: every read here is a strongly consistent GetItem, BatchGetItem key
// or Query of the window partition, each well under 4 KB: one read
// request unit each; a TransactGetItems item costs two.
func (c ddbCounts) rru() int64 {
	return c.ops["GetItem"] + c.ops["Query"] + c.batchReads + 2*c.txReads
}

func (c ddbCounts) String() string {
	names := make([]string, 0, len(c.ops))
	for k := range c.ops {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		s := fmt.Sprintf("%s %d", k, c.ops[k])
		switch k {
		case "BatchWriteItem":
			s += fmt.Sprintf(" (%d items)", c.batchItems)
		case "TransactWriteItems":
			s += fmt.Sprintf(" (%d items)", c.txItems)
		case "TransactGetItems":
			s += fmt.Sprintf(" (%d items)", c.txReads)
		case "BatchGetItem":
			s += fmt.Sprintf(" (%d keys)", c.batchReads)
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
	// pending is the requests forwarded but not yet counted: counting
	// (decoding the body) runs beside the call, not in its path, so that
	// it adds nothing to the function's latency.
	pending sync.WaitGroup
}

func (d *ddbCounter) reset() {
	d.pending.Wait()
	d.mu.Lock()
	d.c = ddbCounts{ops: map[string]int64{}, maxItem: map[string]int{}}
	d.mu.Unlock()
}

func (d *ddbCounter) snapshot() ddbCounts {
	d.pending.Wait()
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
		d.pending.Add(1)
		go d.count(op, body)
		rp.ServeHTTP(w, r)
	})), d
}

// count counts one request of operation op with body.
func (d *ddbCounter) count(op string, body []byte) {
	defer d.pending.Done()
	var in struct {
		Item                      json.RawMessage
		Key                       json.RawMessage
		ExpressionAttributeValues json.RawMessage
		RequestItems              json.RawMessage // BatchWriteItem's or BatchGetItem's
		TransactItems             []struct {
			Put    *struct{ Item json.RawMessage }
			Update *struct{ Key, ExpressionAttributeValues json.RawMessage }
			Delete *struct{ Key json.RawMessage }
			Get    json.RawMessage
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
	txWrite := func(n int) {
		d.c.txItems++
		write(n)
		d.c.writeUnits += units(n) // transactional: twice
	}
	switch op {
	case "PutItem":
		write(len(in.Item))
	case "UpdateItem":
		write(len(in.Key) + len(in.ExpressionAttributeValues))
	case "BatchWriteItem":
		var items map[string][]struct {
			PutRequest    *struct{ Item json.RawMessage }
			DeleteRequest *struct{ Key json.RawMessage }
		}
		_ = json.Unmarshal(in.RequestItems, &items)
		for _, reqs := range items {
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
	case "TransactWriteItems":
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				txWrite(len(it.Put.Item))
			case it.Update != nil:
				txWrite(len(it.Update.Key) + len(it.Update.ExpressionAttributeValues))
			case it.Delete != nil:
				txWrite(len(it.Delete.Key))
			}
		}
	case "TransactGetItems":
		d.c.txReads += int64(len(in.TransactItems))
	case "BatchGetItem":
		var keys map[string]struct{ Keys []json.RawMessage }
		_ = json.Unmarshal(in.RequestItems, &keys)
		for _, k := range keys {
			d.c.batchReads += int64(len(k.Keys))
		}
	}
	d.mu.Unlock()
}
