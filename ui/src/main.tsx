import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import { BackendProvider } from './lib/backend/context';
import { tauriBackend } from './lib/backend/tauri';
import './styles.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <BackendProvider backend={tauriBackend}>
      <App />
    </BackendProvider>
  </StrictMode>,
);
