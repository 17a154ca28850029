// The big screen: read-only, for a projector. Join code and QR in the
// lobby, the question with its countdown and live histogram, the buzz
// queue, the leaderboard between questions and a podium at the end.

import { prompt } from './markdown.js';
import { h, letter, Region } from './dom.js';
import { errorText, onLangChange, t } from './i18n.js';
import { PHASE, RoomModel } from './model.js';
import { RoomSocket } from './socket.js';
import { countdown, histogram, joinLink, langSwitch, leaderboard, optionLabel, podium, qrImage, reconnectBanner, topicPath } from './widgets.js';

/** Most names shown in the lobby. */
const NAME_CLOUD_MAX = 60;

/** Mounts the big screen for a room. */
export function mountScreen(root, code) {
  const model = new RoomModel();
  let status = 'stopped';
  let fatal = code ? '' : t('screen.noCode');
  let identified = false;
  const header = new Region(h('header', { class: 'screen-top' }));
  const banner = new Region(h('div', { class: 'banner-slot' }));
  const main = new Region(h('main', { class: 'screen', 'aria-live': 'polite' }));
  root.replaceChildren(header.el, banner.el, main.el);
  document.body.classList.add('big-screen');
  const draw = () => {
    const link = joinLink(code, model.joinUrl);
    header.update([model.phase, model.count(), model.title, model.joinUrl], () => [
      h('span', { class: 'brand', text: t('app.name') }),
      model.title ? h('span', { class: 'room-title', text: model.title }) : null,
      h('span', { class: 'spacer' }),
      model.phase !== PHASE.LOBBY && code
        ? h('span', { class: 'corner-join' }, `${link.replace(/^https?:\/\//, '')}`, ' · ', h('strong', { text: code }))
        : null,
      h('span', { class: 'muted', text: t('screen.players', { n: model.count() }) }),
      langSwitch(),
    ]);
    banner.update([status, fatal], () => [fatal ? h('div', { class: 'banner banner-error', role: 'alert', text: fatal }) : null, reconnectBanner(status)]);
    if (fatal && !identified) {
      main.update('fatal', () => null);
      return;
    }
    const q = model.question;
    switch (model.phase) {
      case PHASE.ENDED: {
        const rows = model.standings();
        main.update(['ended', rows], () => [h('h1', { class: 'screen-title', text: t('screen.podium') }), podium(rows), rows.length > 3 ? leaderboard(rows.slice(3), { limit: 7 }) : null, h('p', { class: 'muted center', text: t('screen.ended') })]);
        return;
      }
      case PHASE.SCORES:
        main.update(['scores', model.standings()], () => [h('h1', { class: 'screen-title', text: t('screen.leaderboard') }), leaderboard(model.standings(), { limit: 10 })]);
        return;
      default:
        break;
    }
    if (!q || model.phase === PHASE.LOBBY) {
      main.update(['lobby', model.players.map((p) => p.name), model.count(), model.joinUrl], () =>
        h(
          'div',
          { class: 'lobby-screen' },
          h(
            'div',
            { class: 'join-box' },
            h('p', { class: 'join-at', text: t('screen.join') }),
            h('p', { class: 'join-url', text: link.replace(/\/join\/.*$/, '/join').replace(/^https?:\/\//, '') }),
            h('p', { class: 'join-at', text: t('screen.code') }),
            h('p', { class: 'room-code huge', 'data-testid': 'screen-code', text: code }),
          ),
          qrImage(link, 'qr qr-screen'),
          h(
            'div',
            { class: 'name-cloud' },
            model.players.length
              ? [
                  // The newest names; a big room shows how many more there are.
                  model.players.slice(-NAME_CLOUD_MAX).map((p) => h('span', { class: 'name-tag', text: p.name })),
                  model.players.length > NAME_CLOUD_MAX
                    ? h('span', { class: 'name-tag more', text: t('screen.more', { n: model.players.length - NAME_CLOUD_MAX }) })
                    : null,
                ]
              : model.count()
                ? h('p', { class: 'player-count', text: t('screen.players', { n: model.count() }) })
                : h('p', { class: 'muted', text: t('screen.waiting') }),
          ),
        ),
      );
      return;
    }
    main.update([q, model.phase, model.tally, model.queue, model.floor, model.reveal, model.count()], () => questionView(q));
  };

  const questionView = (q) => {
    const open = model.phase === PHASE.OPEN;
    const reveal = model.phase === PHASE.REVEAL ? model.reveal : null;
    const tally = model.tally;
    let body = null;
    if (q.mode === 'buzz' && !model.queue.length) {
      body = h('p', { class: 'screen-wait', text: open ? t('screen.buzzWait') : '' });
    } else if (q.mode === 'buzz') {
      body = h(
        'ol',
        { class: 'screen-queue' },
        model.queue.map((e, i) =>
          h('li', { class: e.player_id === model.floor ? 'floor' : '' }, h('span', { class: 'q-pos', text: i + 1 }), h('span', { text: e.name || model.nameOf(e.player_id) })),
        ),
      );
    } else if (q.options.length) {
      body = histogram(q, tally ? tally.counts : [], { correct: reveal ? reveal.correct || [] : [], big: true });
    }
    return h(
      'div',
      { class: 'screen-question' },
      h(
        'div',
        { class: 'row' },
        h('span', { class: 'q-num', text: t('q.number', { n: q.seq || q.qid }) }),
        h('span', { class: `badge mode-${q.mode}`, text: t(`mode.${q.mode}`) }),
        topicPath(q.topic),
        h('span', { class: 'spacer' }),
        !open ? h('span', { class: 'badge state-closed', text: reveal ? t('q.correct') : t('q.closed') }) : null,
      ),
      prompt('div', { class: 'screen-prompt', role: 'heading', 'aria-level': '1' }, q.prompt),
      open ? countdown(model, { big: true }) : null,
      tally && tally.of != null && q.mode !== 'buzz' ? h('p', { class: 'answered', text: t('screen.answered', { answered: tally.answered ?? 0, of: tally.of }) }) : null,
      body,
      reveal && reveal.answer && !(reveal.correct && reveal.correct.length) ? h('p', { class: 'screen-answer', text: reveal.answer }) : null,
      reveal && Array.isArray(reveal.right) && reveal.right.length
        ? h(
            'div',
            { class: 'screen-right', 'data-testid': 'screen-right' },
            h('span', { class: 'muted', text: t('screen.right') }),
            reveal.right.map((p) => h('span', { class: 'name-tag', text: p.name })),
          )
        : null,
      reveal && q.options.length && reveal.correct && reveal.correct.length && !(Array.isArray(reveal.counts) && reveal.counts.length)
        ? h('p', { class: 'screen-correct', text: reveal.correct.map((i) => `${letter(i)}. ${optionLabel(q, i)}`).join('  ') })
        : null,
    );
  };

  if (code) {
    const socket = new RoomSocket({
      hello: () => ({ type: 'screen', room: code }),
      onMessage: (msg) => {
        if (msg.type === 'error') {
          if (!identified) {
            socket.stop();
            fatal = errorText(msg.code, msg.message);
          }
        } else {
          if (msg.type === 'welcome') {
            identified = true;
            fatal = '';
            socket.welcomed();
          }
          model.apply(msg);
        }
        draw();
      },
      onStatus: (s) => {
        status = s;
        if (s !== 'online') identified = false;
        if (model.phase === PHASE.ENDED && s === 'reconnecting') {
          // The room closes after the end; the podium stays up.
          socket.stop();
          return;
        }
        draw();
      },
    });
    socket.start();
  }
  onLangChange(() => {
    header.invalidate();
    banner.invalidate();
    main.invalidate();
    draw();
  });
  draw();
}
