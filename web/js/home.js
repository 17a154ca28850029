// The landing page: host a room, join one, or open a room's big screen.

import { h, Region } from './dom.js';
import { errorText, onLangChange, t } from './i18n.js';
import { createAndRemember, hostedRooms } from './host.js';
import { normalizeCode } from './player.js';
import { langSwitch } from './widgets.js';

/** Mounts the landing page. */
export function mountHome(root, navigate) {
  const header = new Region(h('header', { class: 'topbar' }));
  const main = new Region(h('main', { class: 'home' }));
  root.replaceChildren(header.el, main.el);
  let error = '';
  const draw = () => {
    header.invalidate();
    main.invalidate();
    header.update('x', () => [h('a', { class: 'brand', href: '/', text: t('app.name') }), h('span', { class: 'spacer' }), langSwitch()]);
    main.update('x', () => {
      const code = h('input', { id: 'home-code', class: 'code-input', maxlength: 12, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', placeholder: t('form.code.placeholder'), 'aria-label': t('form.code') });
      const title = h('input', { id: 'home-title', maxlength: 80, placeholder: t('home.host.roomTitle'), 'aria-label': t('home.host.roomTitle') });
      const last = hostedRooms()[0];
      return [
        h('h1', { class: 'hero', text: t('app.name') }),
        h('p', { class: 'tagline', text: t('app.tagline') }),
        h(
          'div',
          { class: 'home-cards' },
          h(
            'form',
            {
              class: 'card',
              onsubmit: (e) => {
                e.preventDefault();
                const c = normalizeCode(code.value);
                navigate(c ? `/join/${c}` : '/join');
              },
            },
            h('h2', { text: t('home.join.title') }),
            h('p', { class: 'muted', text: t('home.join.text') }),
            code,
            h('button', { type: 'submit', class: 'btn btn-primary btn-block', text: t('home.join.go') }),
          ),
          h(
            'form',
            {
              class: 'card',
              onsubmit: async (e) => {
                e.preventDefault();
                try {
                  navigate(`/host/${await createAndRemember(title.value.trim())}`);
                } catch (err) {
                  error = err.code ? errorText(err.code, err.message) : t('err.network');
                  draw();
                }
              },
            },
            h('h2', { text: t('home.host.title') }),
            h('p', { class: 'muted', text: t('home.host.text') }),
            title,
            error ? h('p', { class: 'error', role: 'alert', text: error }) : null,
            h('button', { type: 'submit', class: 'btn btn-block', 'data-testid': 'home-create', text: t('home.host.create') }),
            last ? h('a', { class: 'link', href: `/host/${last.code}`, text: t('home.host.continue', { code: last.code }) }) : null,
          ),
          h(
            'section',
            { class: 'card' },
            h('h2', { text: t('home.library') }),
            h('p', { class: 'muted', text: t('home.library.text') }),
            h('a', { class: 'btn btn-block', href: '/edit', 'data-testid': 'home-library', text: t('home.library.go') }),
          ),
        ),
      ];
    });
  };
  onLangChange(draw);
  draw();
}
