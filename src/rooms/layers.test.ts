import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consumerShouldPause, dynacastStep, layerSizes, maxWantedSpatialLayer, preferredSpatialLayer } from './layers.ts';

const SIMULCAST = [{ scaleResolutionDownBy: 4 }, { scaleResolutionDownBy: 2 }, { scaleResolutionDownBy: 1 }];
const HD = layerSizes(SIMULCAST, { width: 1280, height: 720 });

test('layerSizes: the captured size divided by each encoding\'s scaleResolutionDownBy; 1280×720 when not reported', () => {
  assert.deepEqual(HD, [
    { width: 320, height: 180 },
    { width: 640, height: 360 },
    { width: 1280, height: 720 },
  ]);
  assert.deepEqual(layerSizes(SIMULCAST), HD);
  assert.deepEqual(layerSizes(SIMULCAST, { width: 'x', height: -5 }), HD, 'junk from appData is ignored');
  assert.deepEqual(layerSizes([{}], { width: 1920, height: 1080 }), [{ width: 1920, height: 1080 }]);
  assert.deepEqual(layerSizes([], { width: 640, height: 480 }), [{ width: 640, height: 480 }], 'no encodings: one layer');
  assert.deepEqual(layerSizes([{ rid: 'r0' }, { rid: 'r1' }, { rid: 'r2' }]), HD, 'no scaleResolutionDownBy: halved per layer below the top');
  assert.deepEqual(layerSizes(['junk', null, 5]), HD);
});

test('preferredSpatialLayer: the smallest layer that covers the tile, capped at the top', () => {
  const v = (width: number, height: number) => ({ width, height, visible: true });
  assert.equal(preferredSpatialLayer(HD, v(160, 90)), 0);
  assert.equal(preferredSpatialLayer(HD, v(320, 180)), 0, 'exactly the layer size');
  assert.equal(preferredSpatialLayer(HD, v(321, 180)), 1, 'one pixel wider needs the next layer');
  assert.equal(preferredSpatialLayer(HD, v(600, 338)), 1);
  assert.equal(preferredSpatialLayer(HD, v(1200, 675)), 2);
  assert.equal(preferredSpatialLayer(HD, v(3840, 2160)), 2, 'larger than the top layer: the top layer');
  // A portrait tile (cover crops the sides): its height decides.
  assert.equal(preferredSpatialLayer(HD, v(200, 400)), 2);
  assert.equal(preferredSpatialLayer(HD, null), 2, 'no report yet: top');
  assert.equal(preferredSpatialLayer(HD, v(0, 0)), 2, 'not laid out: top (paused anyway when invisible)');
  assert.equal(preferredSpatialLayer(layerSizes([{}]), v(160, 90)), 0, 'one layer: always 0');
});

test('consumerShouldPause: set-up, client pause and visibility are separate reasons', () => {
  const shown = { width: 640, height: 360, visible: true };
  const hidden = { ...shown, visible: false };
  assert.equal(consumerShouldPause({ ready: true, clientPaused: false, view: null }), false);
  assert.equal(consumerShouldPause({ ready: true, clientPaused: false, view: shown }), false);
  assert.equal(consumerShouldPause({ ready: false, clientPaused: false, view: shown }), true, 'not set up on the page yet');
  assert.equal(consumerShouldPause({ ready: true, clientPaused: false, view: hidden }), true);
  assert.equal(consumerShouldPause({ ready: true, clientPaused: true, view: shown }), true, 'visible again does not undo the client\'s own pause');
});

test('maxWantedSpatialLayer: the highest layer wanted by a consumer that receives; 0 when nobody does', () => {
  assert.equal(maxWantedSpatialLayer(3, []), 0);
  assert.equal(maxWantedSpatialLayer(3, [{ paused: false, spatialLayer: 0 }, { paused: false, spatialLayer: 1 }]), 1);
  assert.equal(maxWantedSpatialLayer(3, [{ paused: true, spatialLayer: 2 }, { paused: false, spatialLayer: 0 }]), 0, 'a hidden tile wants nothing');
  assert.equal(maxWantedSpatialLayer(3, [{ paused: true, spatialLayer: 2 }]), 0);
  assert.equal(maxWantedSpatialLayer(3, [{ paused: false, spatialLayer: 7 }]), 2, 'capped at the top');
  assert.equal(maxWantedSpatialLayer(1, [{ paused: false, spatialLayer: 2 }]), 0);
});

test('dynacastStep: raises at once, lowers only after holding', () => {
  const HOLD = 2000;
  assert.deepEqual(dynacastStep({ sent: null, lowerSince: null }, 1, 0, HOLD), { send: 1, lowerSince: null, recheckInMs: null });
  assert.deepEqual(dynacastStep({ sent: 0, lowerSince: null }, 2, 0, HOLD), { send: 2, lowerSince: null, recheckInMs: null });
  assert.deepEqual(dynacastStep({ sent: 2, lowerSince: null }, 2, 0, HOLD), { send: null, lowerSince: null, recheckInMs: null });
  const first = dynacastStep({ sent: 2, lowerSince: null }, 0, 1000, HOLD);
  assert.deepEqual(first, { send: null, lowerSince: 1000, recheckInMs: 2000 });
  assert.deepEqual(dynacastStep({ sent: 2, lowerSince: 1000 }, 0, 2500, HOLD), { send: null, lowerSince: 1000, recheckInMs: 500 });
  assert.deepEqual(dynacastStep({ sent: 2, lowerSince: 1000 }, 0, 3000, HOLD), { send: 0, lowerSince: null, recheckInMs: null });
  // Back up while waiting: the pending lowering is forgotten.
  assert.deepEqual(dynacastStep({ sent: 2, lowerSince: 1000 }, 2, 1500, HOLD), { send: null, lowerSince: null, recheckInMs: null });
});
