/**
 * The server's notifications, each handed to the part of the session it is about.
 */
import type { PeerInfo, ServerNotifications } from '../../protocol/index.ts';
import type { ChatPanel } from './chat.ts';
import type { HostControls } from './host-controls.ts';
import type { LocalMedia } from './local-media.ts';
import type { RemotePeers } from './remote-peers.ts';
import type { RoomUi } from './ui.ts';

export interface NotificationTargets {
  ui: RoomUi;
  peers: RemotePeers;
  media: LocalMedia;
  host: HostControls;
  chat: ChatPanel;
  /** Held in the waiting room (host protection), with the server's words. */
  waiting(message: string): void;
  /** Let in from the waiting room. */
  admitted(): void;
}

export function onNotification<M extends keyof ServerNotifications>(t: NotificationTargets, method: M, data: ServerNotifications[M]): void {
  const n = data as ServerNotifications[keyof ServerNotifications];
  switch (method) {
    case 'newPeer':
      return t.peers.add(n as PeerInfo);
    case 'peerClosed':
      return t.peers.remove((n as ServerNotifications['peerClosed']).peerId);
    case 'peerDisplayNameChanged': {
      const d = n as ServerNotifications['peerDisplayNameChanged'];
      return t.peers.rename(d.peerId, d.displayName);
    }
    case 'consumerClosed':
      return t.peers.consumerClosed((n as ServerNotifications['consumerClosed']).consumerId);
    case 'consumerPaused':
    case 'consumerResumed':
      return t.peers.producerPaused((n as ServerNotifications['consumerPaused']).consumerId, method === 'consumerPaused');
    case 'waiting':
      return t.waiting((n as ServerNotifications['waiting']).message);
    case 'admitted':
      return t.admitted();
    case 'mutedByHost': {
      const kind = (n as ServerNotifications['mutedByHost']).kind;
      t.ui.notice('muted-by-host', kind === 'audio' ? 'The host muted you. You can unmute once a host allows it.' : 'The host turned off your camera. You can turn it on once a host allows it.', { level: 'warn' });
      if (kind === 'audio') void t.media.forceOff('mic');
      else void t.media.forceOff('webcam').then(() => t.media.forceOff('screen'));
      return;
    }
    case 'unmutedByHost': {
      const kind = (n as ServerNotifications['unmutedByHost']).kind;
      t.ui.notice('muted-by-host', kind === 'audio' ? 'A host allowed you to unmute.' : 'A host allowed you to turn your camera on.', { level: 'info' });
      return;
    }
    case 'role':
      return t.host.onRole(n as ServerNotifications['role']);
    case 'peerRoleChanged': {
      const d = n as ServerNotifications['peerRoleChanged'];
      return t.peers.setRole(d.peerId, d.role === 'host' ? 'host' : 'guest');
    }
    case 'passwordGuessing':
      return t.ui.notice('password-guessing', (n as ServerNotifications['passwordGuessing']).message, { level: 'warn', sticky: true });
    case 'roomState':
      return t.host.applyRoomState(n as ServerNotifications['roomState']);
    case 'producerLayers': {
      const d = n as ServerNotifications['producerLayers'];
      return void t.media.setMaxSpatialLayer(d.producerId, d.maxSpatialLayer);
    }
    case 'consumerLayers': {
      const d = n as ServerNotifications['consumerLayers'];
      return t.peers.consumerLayers(d.consumerId, d.spatialLayer, d.temporalLayer);
    }
    case 'activeSpeaker':
      return t.ui.setSpeaker((n as ServerNotifications['activeSpeaker']).peerId);
    case 'speaking':
      return t.ui.setSpeaking((n as ServerNotifications['speaking']).peerIds);
    case 'chatMessage':
      return t.chat.onMessage(n as ServerNotifications['chatMessage']);
    case 'chatState':
      return t.chat.onState(n as ServerNotifications['chatState']);
    case 'recording': {
      const d = n as ServerNotifications['recording'];
      return t.ui.setRecording(d.active, d.startedBy);
    }
    case 'lobbyKnock':
      return t.host.onKnock(n as ServerNotifications['lobbyKnock']);
    case 'lobby':
      return t.host.applyLobby(n as ServerNotifications['lobby']);
    case 'error':
      // Kept by the signalling client; shown if the server closes right after (a refusal).
      return;
    default:
      return;
  }
}
