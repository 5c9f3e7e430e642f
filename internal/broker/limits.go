package broker

// queueFull reports whether one more message of size bytes would exceed
// the session's queue limits (Options.MaxQueuedMessages and
// MaxQueuedBytes). The limits bound memory per session; they never block
// a publisher: a message that does not fit is dropped and counted in
// $SYS/broker/publish/messages/dropped. One message is always admitted to
// an empty queue, so a payload larger than MaxQueuedBytes still flows.
//
// Keep alive: the read deadline is 1.5 × the keep alive [MQTT-3.1.2-24]
// (MQTT 5 [MQTT-3.1.2-22]) and MQTT 5 clients asking for more than
// MaxKeepAlive get a Server Keep Alive [MQTT-3.2.2-21]. A subscriber that
// stops reading is closed after WriteTimeout without progress.
func (s *Session) queueFull(size int) bool {
	o := &s.b.opts
	n := s.queue.len()
	return (o.MaxQueuedMessages > 0 && n >= o.MaxQueuedMessages) ||
		(o.MaxQueuedBytes > 0 && n > 0 && s.qbytes+size > o.MaxQueuedBytes)
}
