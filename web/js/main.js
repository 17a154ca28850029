// Picks the view for the current path. Every app route serves the same
// index.html; this module decides what it becomes.

import { mountEditor } from './editor.js';
import { mountHome } from './home.js';
import { mountHost, mountPanel } from './host.js';
import { mountPlayer } from './player.js';
import { mountScreen } from './screen.js';

const root = document.getElementById('app');

function navigate(path) {
  // A full load keeps every view's listeners and sockets simple.
  location.assign(path);
}

function route() {
  const parts = location.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, second] = parts;
  switch (first) {
    case 'host':
      document.title = 'quizroom · host';
      return mountHost(root, second ? second.toUpperCase() : '', navigate);
    case 'join':
      document.title = 'quizroom';
      return mountPlayer(root, second || new URLSearchParams(location.search).get('code') || '');
    case 'edit':
      document.title = 'quizroom · library';
      return mountEditor(root, parts.slice(1), navigate);
    case 'panel':
      document.title = 'quizroom · panel';
      return mountPanel(root, second ? second.toUpperCase() : '', decodeURIComponent(location.hash.slice(1)));
    case 'screen':
      document.title = 'quizroom · screen';
      return mountScreen(root, second ? second.toUpperCase() : '');
    default:
      return mountHome(root, navigate);
  }
}

route();
