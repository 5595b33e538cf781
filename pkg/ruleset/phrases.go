package ruleset

// phraseMatcher finds, in one pass over a text, every phrase of the rule set
// that occurs in it (Aho-Corasick). Bounce DSNs are matched against hundreds
// of phrases on every event; a Contains per phrase would cost more than
// decoding the event. The automaton keeps sparse goto edges (most states
// have one child) and a dense table only at the root, so it builds in
// time linear in the phrases — it is built at every cold start. All
// per-state data lives in a few flat arrays (edges and phrase IDs in
// compressed-row form) sized up front: thousands of states, a dozen
// allocations.
type phraseMatcher struct {
	root [256]int32
	// The goto edges of state s are edges[edgeOff[s]:edgeOff[s+1]]; the
	// root's are in root instead.
	edgeOff []int32
	edges   []edge
	fail    []int32
	dict    []int32 // nearest state on the fail chain that ends a phrase, or 0
	// The phrases ending at state s are ownIDs[ownOff[s]:ownOff[s+1]].
	ownOff   []int32
	ownIDs   []int32
	nPhrases int
}

type edge struct {
	c    byte
	next int32
}

func (m *phraseMatcher) child(s int32, c byte) int32 {
	if s == 0 {
		return m.root[c]
	}
	for _, e := range m.edges[m.edgeOff[s]:m.edgeOff[s+1]] {
		if e.c == c {
			return e.next
		}
	}
	return -1
}

func (m *phraseMatcher) owns(s int32) bool { return m.ownOff[s+1] > m.ownOff[s] }

func newPhraseMatcher(phrases []string) *phraseMatcher {
	m := &phraseMatcher{nPhrases: len(phrases)}
	for i := range m.root {
		m.root[i] = -1
	}
	// The trie has at most one state per phrase byte plus the root.
	limit := 1
	for _, p := range phrases {
		limit += len(p)
	}
	// While inserting, a state's children are a linked list (first child,
	// next sibling): no per-state slices. The root's are in m.root.
	label := make([]byte, 1, limit)
	firstChild := make([]int32, 1, limit)
	nextSib := make([]int32, 1, limit)
	firstChild[0], nextSib[0] = -1, -1
	ends := make([]int32, len(phrases))
	for id, p := range phrases {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := p[i]
			n := int32(-1)
			if s == 0 {
				n = m.root[c]
			} else {
				for k := firstChild[s]; k >= 0; k = nextSib[k] {
					if label[k] == c {
						n = k
						break
					}
				}
			}
			if n < 0 {
				n = int32(len(label))
				label = append(label, c)
				firstChild = append(firstChild, -1)
				if s == 0 {
					nextSib = append(nextSib, -1)
					m.root[c] = n
				} else {
					nextSib = append(nextSib, firstChild[s])
					firstChild[s] = n
				}
			}
			s = n
		}
		ends[id] = s
	}
	n := len(label)

	// Flatten the lists into compressed rows.
	m.edgeOff = make([]int32, n+1)
	m.edges = make([]edge, 0, n)
	for s := 1; s < n; s++ {
		m.edgeOff[s] = int32(len(m.edges))
		for k := firstChild[s]; k >= 0; k = nextSib[k] {
			m.edges = append(m.edges, edge{label[k], k})
		}
	}
	m.edgeOff[n] = int32(len(m.edges))
	m.ownOff = make([]int32, n+1)
	for _, s := range ends {
		m.ownOff[s+1]++
	}
	for s := 1; s <= n; s++ {
		m.ownOff[s] += m.ownOff[s-1]
	}
	m.ownIDs = make([]int32, len(phrases))
	fill := firstChild[:n] // no longer needed: reuse as fill cursors
	copy(fill, m.ownOff[:n])
	for id, s := range ends {
		m.ownIDs[fill[s]] = int32(id)
		fill[s]++
	}

	m.fail = make([]int32, n)
	m.dict = make([]int32, n)
	queue := nextSib[:0] // likewise: at most n-1 states are queued
	for c := 0; c < 256; c++ {
		if r := m.root[c]; r > 0 {
			queue = append(queue, r)
		} else {
			m.root[c] = 0
		}
	}
	for head := 0; head < len(queue); head++ {
		s := queue[head]
		f := m.fail[s]
		if m.owns(f) {
			m.dict[s] = f
		} else {
			m.dict[s] = m.dict[f]
		}
		for _, e := range m.edges[m.edgeOff[s]:m.edgeOff[s+1]] {
			t := f
			for t != 0 && m.child(t, e.c) < 0 {
				t = m.fail[t]
			}
			fc := m.child(t, e.c)
			if fc == e.next || fc < 0 {
				fc = 0
			}
			m.fail[e.next] = fc
			queue = append(queue, e.next)
		}
	}
	return m
}

// match sets the bit of every phrase found in lower (already lower case).
func (m *phraseMatcher) match(lower string, found []uint64) bool {
	any := false
	s := int32(0)
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		for s != 0 {
			if n := m.child(s, c); n >= 0 {
				s = n
				goto matched
			}
			s = m.fail[s]
		}
		s = m.root[c]
	matched:
		if s == 0 {
			continue
		}
		for t := s; t != 0; t = m.dict[t] {
			for _, id := range m.ownIDs[m.ownOff[t]:m.ownOff[t+1]] {
				found[id>>6] |= 1 << (uint(id) & 63)
				any = true
			}
		}
	}
	return any
}

func (m *phraseMatcher) words() int { return (m.nPhrases + 63) / 64 }

func has(found []uint64, id int32) bool { return found[id>>6]&(1<<(uint(id)&63)) != 0 }
