// A subscriber of one LGSP topic, in Node with amqplib, written from
// docs/amqp-wire.md and the gateway's /asyncapi.json alone: it declares its
// durable queue with the arguments the document gives, binds it to the events
// exchange, announces itself on lgsp.control, and takes each event at least
// once, acknowledging what it processed and processing a repeat only once.
//
// Environment:
//   LGSP_AMQP_URL, LGSP_GATEWAY   the broker, and the gateway for /asyncapi.json
//   LGSP_TOPIC, LGSP_SUBSCRIBER   the topic, and this subscriber's name
//   LGSP_PROCESSED                a file of the event ids processed, one a line
//                                 (kept across restarts: the dedup of at least once)
//   LGSP_NACK_FIRST               optional: nack (requeue) the first delivery of
//                                 events whose `ghiChu` is this text
// It prints one JSON line per delivery.

'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const amqp = require('amqplib');

const say = (event, fields = {}) => console.log(JSON.stringify({event, ...fields}));

async function wire(gateway, topic, subscriber) {
  const response = await fetch(`${gateway}/asyncapi.json`);
  if (!response.ok) throw new Error(`/asyncapi.json: ${response.status}`);
  const doc = await response.json();
  const channels = Object.values(doc.channels);
  const events = channels.find((c) => c.address === topic);
  const queue = channels.find(
    (c) => c.parameters && c.parameters.subscriber && c.address.endsWith(`.${topic}`),
  );
  if (!events || !queue) throw new Error(`${topic} is not in /asyncapi.json`);
  return {
    exchange: events.bindings.amqp.exchange,
    exchangeArguments: events.bindings.amqp['x-exchange-arguments'] || {},
    queue: queue.bindings.amqp.queue.name.replace('{subscriber}', subscriber),
    arguments: queue.bindings.amqp['x-queue-arguments'],
    control: doc.channels.control_heartbeat.bindings.amqp.exchange,
    heartbeat: doc.channels.control_heartbeat.address,
    query: doc.channels.control_query.address,
    intervalMs: doc.operations.announce_heartbeat['x-lgsp-interval-ms'],
    ttlMs: doc.operations.announce_heartbeat['x-lgsp-ttl-ms'],
  };
}

async function main() {
  const env = process.env;
  const topic = env.LGSP_TOPIC;
  const subscriber = env.LGSP_SUBSCRIBER;
  const w = await wire(env.LGSP_GATEWAY, topic, subscriber);
  const processed = new Set(
    fs.existsSync(env.LGSP_PROCESSED)
      ? fs.readFileSync(env.LGSP_PROCESSED, 'utf8').split('\n').filter(Boolean)
      : [],
  );
  const url = new URL(env.LGSP_AMQP_URL);
  url.searchParams.set('heartbeat', env.LGSP_AMQP_HEARTBEAT || '1');
  const connection = await amqp.connect(url.toString());
  connection.on('error', (err) => say('connection_error', {error: err.message}));
  const channel = await connection.createChannel();
  await channel.prefetch(1);

  await channel.assertExchange(w.exchange.name, w.exchange.type, {
    durable: w.exchange.durable,
    arguments: w.exchangeArguments,
  });
  await channel.assertQueue(w.queue, {durable: true, arguments: w.arguments});
  await channel.bindQueue(w.queue, w.exchange.name, topic);

  const consumer = await channel.consume(w.queue, (message) => {
    if (message === null) return;
    const id = message.properties.messageId;
    const headers = message.properties.headers || {};
    let payload;
    try {
      payload = JSON.parse(message.content.toString('utf8'));
    } catch {
      say('malformed', {event_id: id});
      channel.reject(message, false); // dead-lettered at once
      return;
    }
    const fields = {
      event_id: id,
      request_id: message.properties.correlationId,
      client: headers['lgsp-client'],
      topic: headers['lgsp-topic'],
      redelivered: message.fields.redelivered,
      delivery_count: headers['x-delivery-count'] || 0,
      payload,
    };
    if (processed.has(id)) {
      say('duplicate', fields);
      channel.ack(message);
      return;
    }
    if (env.LGSP_NACK_FIRST && payload.ghiChu === env.LGSP_NACK_FIRST && !fields.delivery_count) {
      say('nacked', fields);
      channel.nack(message, false, true); // delivered again
      return;
    }
    processed.add(id);
    fs.appendFileSync(env.LGSP_PROCESSED, `${id}\n`);
    say('received', fields);
    channel.ack(message);
  });

  // Presence: a heartbeat naming the subscription, and answers to queries.
  await channel.assertExchange(w.control.name, w.control.type, {durable: w.control.durable});
  const entry = {kind: 'subscriber', topic, subscriber, instance: `node-${process.pid}`};
  const announce = () =>
    channel.publish(w.control.name, w.heartbeat, Buffer.from(JSON.stringify([entry])), {
      expiration: String(w.ttlMs),
    });
  const mine = await channel.assertQueue(`lgsp.control.${crypto.randomBytes(6).toString('hex')}`, {
    exclusive: true,
    autoDelete: true,
  });
  await channel.bindQueue(mine.queue, w.control.name, w.query);
  await channel.consume(mine.queue, (m) => m && announce(), {noAck: true});
  announce();
  const beat = setInterval(announce, w.intervalMs);
  say('subscribed', {queue: w.queue});

  const stop = async () => {
    clearInterval(beat);
    await channel.cancel(consumer.consumerTag);
    await channel.close(); // sends what it still holds first
    await connection.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  say('failed', {error: String(err && err.stack ? err.stack : err)});
  process.exit(1);
});
