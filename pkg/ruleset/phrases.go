package ruleset

// phraseMatcher finds, in one pass over a text, every phrase of the rule set
// that occurs in it (Aho-Corasick). Bounce DSNs are matched against hundreds
// of phrases on every event; a Contains per phrase would cost more than
// decoding the event. The automaton keeps sparse goto edges (most states
// have one child) and a dense table only at the root, so it builds in
// time linear in the phrases — it is built at every cold start.
type phraseMatcher struct {
	root     [256]int32
	edges    [][]edge // per state, sorted by byte
	fail     []int32
	dict     []int32 // nearest state on the fail chain that ends a phrase, or 0
	own      [][]int32
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
	for _, e := range m.edges[s] {
		if e.c == c {
			return e.next
		}
	}
	return -1
}

func newPhraseMatcher(phrases []string) *phraseMatcher {
	m := &phraseMatcher{nPhrases: len(phrases)}
	for i := range m.root {
		m.root[i] = -1
	}
	m.edges = [][]edge{nil}
	m.own = [][]int32{nil}
	for id, p := range phrases {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			n := m.child(s, p[i])
			if n < 0 {
				n = int32(len(m.edges))
				m.edges = append(m.edges, nil)
				m.own = append(m.own, nil)
				if s == 0 {
					m.root[p[i]] = n
				} else {
					m.edges[s] = append(m.edges[s], edge{p[i], n})
				}
			}
			s = n
		}
		m.own[s] = append(m.own[s], int32(id))
	}
	n := len(m.edges)
	m.fail = make([]int32, n)
	m.dict = make([]int32, n)
	queue := make([]int32, 0, n)
	for c := 0; c < 256; c++ {
		if r := m.root[c]; r > 0 {
			queue = append(queue, r)
		} else {
			m.root[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := m.fail[s]
		if len(m.own[f]) > 0 {
			m.dict[s] = f
		} else {
			m.dict[s] = m.dict[f]
		}
		for _, e := range m.edges[s] {
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
			for _, id := range m.own[t] {
				found[id>>6] |= 1 << (uint(id) & 63)
				any = true
			}
		}
	}
	return any
}

func (m *phraseMatcher) words() int { return (m.nPhrases + 63) / 64 }

func has(found []uint64, id int32) bool { return found[id>>6]&(1<<(uint(id)&63)) != 0 }
