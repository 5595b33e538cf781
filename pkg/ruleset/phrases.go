package ruleset

// phraseMatcher finds, in one pass over a text, every phrase of the rule
// set that occurs in it (Aho-Corasick compiled to a DFA over byte classes).
// Bounce DSNs are matched against hundreds of phrases on every event; a
// Contains per phrase would cost more than decoding the event.
type phraseMatcher struct {
	class    [256]uint16
	nClasses int
	delta    []int32   // state*nClasses + class → state
	out      [][]int32 // phrase IDs ending at each state (fail closure merged)
	nPhrases int
}

func newPhraseMatcher(phrases []string) *phraseMatcher {
	m := &phraseMatcher{nPhrases: len(phrases)}
	// Byte classes: each byte used by a phrase gets its own class; all
	// other bytes share class 0, which no phrase contains.
	next := uint16(1)
	for _, p := range phrases {
		for i := 0; i < len(p); i++ {
			if m.class[p[i]] == 0 {
				m.class[p[i]] = next
				next++
			}
		}
	}
	m.nClasses = int(next)

	// Trie.
	type node struct {
		next map[uint16]int32
		out  []int32
	}
	nodes := []node{{next: map[uint16]int32{}}}
	for id, p := range phrases {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := m.class[p[i]]
			n, ok := nodes[s].next[c]
			if !ok {
				n = int32(len(nodes))
				nodes = append(nodes, node{next: map[uint16]int32{}})
				nodes[s].next[c] = n
			}
			s = n
		}
		nodes[s].out = append(nodes[s].out, int32(id))
	}

	// BFS: fail links, then the full DFA table.
	m.delta = make([]int32, len(nodes)*m.nClasses)
	m.out = make([][]int32, len(nodes))
	fail := make([]int32, len(nodes))
	queue := make([]int32, 0, len(nodes))
	for c := 0; c < m.nClasses; c++ {
		if n, ok := nodes[0].next[uint16(c)]; ok {
			m.delta[c] = n
			fail[n] = 0
			queue = append(queue, n)
		}
	}
	m.out[0] = nodes[0].out
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		m.out[s] = append(append([]int32(nil), nodes[s].out...), m.out[fail[s]]...)
		for c := 0; c < m.nClasses; c++ {
			if n, ok := nodes[s].next[uint16(c)]; ok {
				fail[n] = m.delta[int(fail[s])*m.nClasses+c]
				m.delta[int(s)*m.nClasses+c] = n
				queue = append(queue, n)
			} else {
				m.delta[int(s)*m.nClasses+c] = m.delta[int(fail[s])*m.nClasses+c]
			}
		}
	}
	return m
}

// match sets the bit of every phrase found in lower (already lower case).
func (m *phraseMatcher) match(lower string, found []uint64) bool {
	any := false
	s := int32(0)
	nc := m.nClasses
	for i := 0; i < len(lower); i++ {
		s = m.delta[int(s)*nc+int(m.class[lower[i]])]
		if out := m.out[s]; len(out) > 0 {
			for _, id := range out {
				found[id>>6] |= 1 << (uint(id) & 63)
			}
			any = true
		}
	}
	return any
}

func (m *phraseMatcher) words() int { return (m.nPhrases + 63) / 64 }

func has(found []uint64, id int32) bool { return found[id>>6]&(1<<(uint(id)&63)) != 0 }
