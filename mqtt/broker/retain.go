package broker

// retain updates the retained message of m.Topic: an empty payload
// deletes it [MQTT-3.3.1-10], [MQTT-3.3.1-11]; otherwise m replaces it
// [MQTT-3.3.1-5].
func (b *Broker) retain(m *Message) {
	var err error
	if len(m.Payload) == 0 {
		err = b.store.DeleteRetained(m.Topic)
	} else {
		err = b.store.StoreRetained(m)
	}
	if err != nil {
		b.log.Error("storing retained message failed", "topic", m.Topic, "err", err)
	}
}
