package kafkaqueue

// signal wakes every goroutine waiting for a change. Its methods are called
// with the lock that guards the change held.
type signal struct{ ch chan struct{} }

// wait returns a channel closed at the next fire.
func (s *signal) wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// fire wakes the waiters.
func (s *signal) fire() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
