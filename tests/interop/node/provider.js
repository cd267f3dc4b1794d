// A provider of one LGSP service version, in Node with amqplib, written from
// docs/amqp-wire.md and the gateway's /asyncapi.json alone: it reads its
// queue, the queue's arguments, its contract fingerprint and the presence
// keys and timings from the served AsyncAPI document, then serves requests
// over direct reply-to and announces itself on lgsp.control.
//
// Environment:
//   LGSP_AMQP_URL   the broker (a short AMQP heartbeat is asked for)
//   LGSP_GATEWAY    the gateway's base URL, for /asyncapi.json
//   LGSP_SERVICE, LGSP_VERSION   what it serves
//   LGSP_ANSWERS    a JSON file: {"answers": [{"request", "status", "body"}],
//                   "otherwise": {"status", "body"}}: the answer to a request
//                   equal to `request`, else `otherwise`
// It prints one JSON line per thing it does (serving, request, refused, gone).

'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const util = require('node:util');
const amqp = require('amqplib');

const say = (event, fields = {}) => console.log(JSON.stringify({event, ...fields}));

async function wire(gateway, service, version) {
  const response = await fetch(`${gateway}/asyncapi.json`);
  if (!response.ok) throw new Error(`/asyncapi.json: ${response.status}`);
  const doc = await response.json();
  const channel = Object.values(doc.channels).find(
    (c) => c['x-lgsp-service'] === service && c['x-lgsp-version'] === version,
  );
  if (!channel) throw new Error(`${service} v${version} is not in /asyncapi.json`);
  const heartbeat = doc.channels.control_heartbeat;
  const announce = doc.operations.announce_heartbeat;
  return {
    queue: channel.bindings.amqp.queue.name,
    arguments: channel.bindings.amqp['x-queue-arguments'],
    fingerprint: channel['x-lgsp-fingerprint'],
    control: heartbeat.bindings.amqp.exchange,
    keys: {
      heartbeat: heartbeat.address,
      gone: doc.channels.control_gone.address,
      query: doc.channels.control_query.address,
      contracts: doc.channels.control_contracts.address,
    },
    intervalMs: announce['x-lgsp-interval-ms'],
    ttlMs: announce['x-lgsp-ttl-ms'],
  };
}

function answerTo(answers, body) {
  let request;
  try {
    request = JSON.parse(body.toString('utf8'));
  } catch {
    return {status: 500, body: {code: 'provider.failed', detail: 'request is not JSON'}};
  }
  const found = answers.answers.find((a) => util.isDeepStrictEqual(a.request, request));
  return found || answers.otherwise;
}

async function main() {
  const env = process.env;
  const service = env.LGSP_SERVICE;
  const version = Number(env.LGSP_VERSION);
  const answers = JSON.parse(fs.readFileSync(env.LGSP_ANSWERS, 'utf8'));
  const w = await wire(env.LGSP_GATEWAY, service, version);
  const url = new URL(env.LGSP_AMQP_URL);
  url.searchParams.set('heartbeat', env.LGSP_AMQP_HEARTBEAT || '1');
  const connection = await amqp.connect(url.toString());
  connection.on('error', (err) => say('connection_error', {error: err.message}));
  connection.on('close', () => {
    say('connection_closed');
    process.exit(3);
  });
  const serve = await connection.createChannel();
  const control = await connection.createChannel();
  await serve.prefetch(16);

  const instance = `node-${service}@${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  const entry = {kind: 'provider', service, version, instance, fingerprint: w.fingerprint};
  let serving = true;
  const announce = (key) =>
    control.publish(w.control.name, key, Buffer.from(JSON.stringify([entry])), {
      expiration: String(w.ttlMs),
    });

  // Presence: the control exchange, and a queue of its own on it.
  await control.assertExchange(w.control.name, w.control.type, {durable: w.control.durable});
  const mine = await control.assertQueue(`lgsp.control.${crypto.randomBytes(6).toString('hex')}`, {
    exclusive: true,
    autoDelete: true,
  });
  await control.bindQueue(mine.queue, w.control.name, w.keys.query);
  await control.bindQueue(mine.queue, w.control.name, w.keys.contracts);

  // The service version's queue, declared with the arguments every process uses.
  await serve.assertQueue(w.queue, {durable: true, arguments: w.arguments});
  const consumer = await serve.consume(w.queue, (message) => {
    if (message === null) return; // cancelled by the broker
    const headers = message.properties.headers || {};
    const deadline = Number(headers['lgsp-deadline']);
    if (!headers['lgsp-client'] || !headers['lgsp-service'] || !Number.isFinite(deadline)) {
      say('request_malformed', {message_id: message.properties.messageId});
      serve.reject(message, false); // to lgsp.dead-letters
      return;
    }
    if (deadline * 1000 <= Date.now()) {
      say('request_expired', {request_id: message.properties.messageId});
      serve.ack(message);
      return;
    }
    const answer = answerTo(answers, message.content);
    serve.publish('', message.properties.replyTo, Buffer.from(JSON.stringify(answer.body)), {
      contentType: 'application/json',
      correlationId: message.properties.correlationId,
      headers: {'lgsp-status': answer.status},
    });
    serve.ack(message);
    say('request', {
      request_id: message.properties.messageId,
      client: headers['lgsp-client'],
      status: answer.status,
    });
  });
  say('serving', {queue: w.queue, fingerprint: w.fingerprint, instance});

  const withdraw = async () => {
    if (!serving) return;
    serving = false;
    await serve.cancel(consumer.consumerTag);
    announce(w.keys.gone);
  };

  await control.consume(
    mine.queue,
    (message) => {
      if (message === null) return;
      if (message.fields.routingKey === w.keys.query) {
        if (serving) announce(w.keys.heartbeat);
      } else if (message.fields.routingKey === w.keys.contracts) {
        const published = JSON.parse(message.content.toString('utf8'));
        const mineNow = published.find((c) => c.service === service && c.version === version);
        if (mineNow && mineNow.fingerprint !== w.fingerprint && serving) {
          say('refused', {published: mineNow.fingerprint, built: w.fingerprint});
          withdraw();
        }
      }
    },
    {noAck: true},
  );

  announce(w.keys.heartbeat);
  const beat = setInterval(() => serving && announce(w.keys.heartbeat), w.intervalMs);

  const stop = async () => {
    clearInterval(beat);
    await withdraw();
    // Closing the channel first sends what it still holds (provider.gone):
    // a connection's close would drop it.
    connection.removeAllListeners('close');
    await control.close();
    say('gone', {instance});
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
